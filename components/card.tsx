/** A titled panel; every console section sits in one. */
import type { ReactNode } from "react";

export function Card({ title, description, actions, children, labelledBy }: {
  title: string;
  description?: ReactNode;
  /** controls shown at the right of the title */
  actions?: ReactNode;
  children: ReactNode;
  /** id for the heading, so the section is a named landmark */
  labelledBy?: string;
}) {
  return (
    <section className="card" aria-labelledby={labelledBy}>
      <div className="card-header">
        <h2 id={labelledBy}>{title}</h2>
        {actions}
      </div>
      {description ? <p className="card-description">{description}</p> : null}
      {children}
    </section>
  );
}

/** One headline figure with a line of context, for overview cards. */
export function Stat({ value, detail, testId }: { value: ReactNode; detail?: ReactNode; testId?: string }) {
  return (
    <div>
      <div className="stat-value" data-testid={testId}>{value}</div>
      {detail ? <div className="stat-detail">{detail}</div> : null}
    </div>
  );
}
