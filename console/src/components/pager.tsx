import { useCallback, useState } from 'react';

/**
 * Cursor paging as the API does it: a page answers `nextCursor` when more follow. Earlier cursors are kept
 * so "Previous" can go back; the cursors themselves are opaque.
 */
export function useCursorPager() {
  const [stack, setStack] = useState<(string | undefined)[]>([undefined]);
  const cursor = stack[stack.length - 1];
  const next = useCallback((c: string) => setStack((s) => [...s, c]), []);
  const prev = useCallback(() => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)), []);
  const reset = useCallback(() => setStack([undefined]), []);
  return { cursor, page: stack.length, next, prev, reset, hasPrev: stack.length > 1 };
}

export function Pager(props: {
  page: number;
  hasPrev: boolean;
  nextCursor: string | undefined;
  onPrev: () => void;
  onNext: (cursor: string) => void;
  label: string;
}) {
  return (
    <nav className="pager" aria-label={`${props.label} pages`}>
      <button
        type="button"
        className="button"
        disabled={!props.hasPrev}
        onClick={props.onPrev}
        data-testid="page-prev"
      >
        Previous
      </button>
      <span aria-live="polite">Page {props.page}</span>
      <button
        type="button"
        className="button"
        disabled={!props.nextCursor}
        onClick={() => props.nextCursor && props.onNext(props.nextCursor)}
        data-testid="page-next"
      >
        Next
      </button>
    </nav>
  );
}
