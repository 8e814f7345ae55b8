import { type ReactNode, useEffect, useId, useRef } from 'react';
import type { ApiError } from '../api';
import { ProblemAlert } from './problem';

/**
 * A modal confirmation on the native <dialog> (focus moves into it and stays there; Escape cancels).
 * The confirm button shows progress while `busy`, and an API error stays in the dialog.
 */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: ApiError | null;
  /** Pointers of field errors that a field inside the dialog shows itself. */
  handled?: readonly string[];
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  const { onCancel } = props;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    const cancel = (e: Event) => {
      e.preventDefault();
      onCancel();
    };
    d.addEventListener('cancel', cancel);
    return () => d.removeEventListener('cancel', cancel);
  }, [onCancel]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} className="dialog" data-testid="confirm-dialog">
      {props.open ? (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            props.onConfirm();
          }}
        >
          <h2 id={titleId}>{props.title}</h2>
          {props.children}
          <ProblemAlert error={props.error ?? null} handled={props.handled ?? []} testId="confirm-problem" />
          <div className="actions">
            <button type="button" className="button" onClick={props.onCancel} data-testid="confirm-cancel">
              Cancel
            </button>
            <button
              type="submit"
              className={props.danger ? 'button button-danger' : 'button button-primary'}
              disabled={props.busy}
              data-testid="confirm-ok"
            >
              {props.busy ? 'Working…' : props.confirmLabel}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}
