import { useState } from 'react';

/**
 * Copies `text` to the clipboard. The Clipboard API needs a secure context (https or localhost); elsewhere
 * the text is selected in a hidden field and copied the old way.
 */
export function CopyButton(props: { text: string; label: string; testId?: string }) {
  const [done, setDone] = useState<'copied' | 'failed' | null>(null);
  const copy = async () => {
    try {
      if (navigator.clipboard && globalThis.isSecureContext) {
        await navigator.clipboard.writeText(props.text);
      } else {
        const area = document.createElement('textarea');
        area.value = props.text;
        area.setAttribute('readonly', '');
        area.className = 'offscreen';
        document.body.append(area);
        area.select();
        const ok = document.execCommand('copy');
        area.remove();
        if (!ok) throw new Error('copy refused');
      }
      setDone('copied');
    } catch {
      setDone('failed');
    }
    setTimeout(() => setDone(null), 2500);
  };
  return (
    <>
      <button
        type="button"
        className="button button-small"
        onClick={() => void copy()}
        data-testid={props.testId}
      >
        {props.label}
      </button>
      <span className="copy-state" role="status" aria-live="polite">
        {done === 'copied' ? 'Copied' : done === 'failed' ? 'Could not copy: select the text instead' : ''}
      </span>
    </>
  );
}
