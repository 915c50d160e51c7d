"use client";
/**
 * Confirmation for actions that change state: a modal <dialog> (focus stays inside, Escape cancels) that says what
 * will happen, shows progress while the action runs and its error if it fails, then closes and hands the outcome
 * to the page. Focus returns to the control that opened it.
 */
import { useEffect, useRef, useState, type ReactNode } from "react";

export interface ConfirmableAction {
  title: string;
  description: ReactNode;
  confirmLabel: string;
  /** what the confirm button says while the action runs, e.g. "Retrying…" */
  progressLabel: string;
  /** does it; resolves to a sentence saying what happened */
  run(): Promise<string>;
}

export function ActionDialog({ action, onClose, onDone }: {
  action: ConfirmableAction | null;
  onClose(): void;
  onDone(outcome: string): void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const confirm = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLElement | null>(null);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (action && !element.open) {
      opener.current = document.activeElement as HTMLElement | null;
      setError(null);
      setPending(false);
      element.showModal();
      confirm.current?.focus();
    } else if (!action && element.open) {
      element.close();
    }
  }, [action]);

  function close() {
    onClose();
    // after React removed the dialog's content, give focus back to what opened it
    queueMicrotask(() => opener.current?.isConnected && opener.current.focus());
  }

  async function run() {
    if (!action) return;
    setPending(true);
    setError(null);
    try {
      const outcome = await action.run();
      onDone(outcome);
      close();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setPending(false);
    }
  }

  return (
    <dialog
      ref={dialog}
      className="dialog"
      aria-labelledby="action-dialog-title"
      aria-describedby="action-dialog-description"
      onCancel={(e) => {
        e.preventDefault();
        close();
      }}
    >
      {action ? (
        <form method="dialog" onSubmit={(e) => { e.preventDefault(); void run(); }}>
          <h2 id="action-dialog-title">{action.title}</h2>
          <div id="action-dialog-description" className="dialog-body">{action.description}</div>
          {error ? <p className="alert alert-error" role="alert">{error}</p> : null}
          <div className="dialog-actions">
            <button type="button" className="secondary" onClick={close}>Cancel</button>
            <button ref={confirm} type="submit" disabled={pending} aria-busy={pending}>
              {pending ? <><span className="spinner spinner-inline" aria-hidden="true" /> {action.progressLabel}</> : action.confirmLabel}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}
