/** Label/value pairs as a description list (read as pairs by screen readers). */
import { Fragment, type ReactNode } from "react";

export interface KeyValueItem {
  label: string;
  value: ReactNode;
  /** monospace, for identifiers and keys */
  mono?: boolean;
  testId?: string;
}

export function KeyValueList({ items }: { items: KeyValueItem[] }) {
  return (
    <dl className="kv">
      {items.map((item) => (
        <Fragment key={item.label}>
          <dt>{item.label}</dt>
          <dd className={item.mono ? "mono" : undefined} data-testid={item.testId}>{item.value}</dd>
        </Fragment>
      ))}
    </dl>
  );
}
