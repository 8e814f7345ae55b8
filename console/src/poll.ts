import { useEffect, useRef, useState } from 'react';

/** How long without a key press, click or touch before auto-refresh stops (below the 30 min idle timeout). */
export const IDLE_STOP_MS = 25 * 60_000;

let lastInput = Date.now();
let listening = false;

function listenForInput(): void {
  if (listening) return;
  listening = true;
  const mark = () => {
    lastInput = Date.now();
  };
  for (const type of ['keydown', 'pointerdown', 'wheel', 'touchstart']) {
    window.addEventListener(type, mark, { passive: true, capture: true });
  }
}

export type PollState = 'running' | 'hidden' | 'idle';

/**
 * Calls `fn` now and every `intervalMs` while the tab is visible. Hidden tabs pause (and refresh at once
 * when shown again). After IDLE_STOP_MS without user input polling stops, so an unattended console does
 * not keep its session alive forever: the server's idle timeout can still end it.
 */
export function usePolling(fn: () => Promise<void>, intervalMs: number, deps: readonly unknown[]): PollState {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const [state, setState] = useState<PollState>('running');
  // The caller's deps restart polling; fn is read through a ref, so a new closure does not.
  useEffect(() => {
    listenForInput();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let running = false;
    const tick = async () => {
      timer = undefined;
      if (stopped) return;
      if (document.hidden) {
        setState('hidden');
        return;
      }
      if (Date.now() - lastInput > IDLE_STOP_MS) {
        setState('idle');
        return;
      }
      setState('running');
      if (!running) {
        running = true;
        try {
          await fnRef.current();
        } catch {
          // The callback shows its own errors; polling goes on.
        } finally {
          running = false;
        }
      }
      if (!stopped && timer === undefined) timer = setTimeout(() => void tick(), intervalMs);
    };
    const wake = () => {
      if (document.hidden || stopped) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      void tick();
    };
    const onInput = () => {
      // A person is back after an idle stop: start again.
      if (timer === undefined && !running && !document.hidden) wake();
    };
    document.addEventListener('visibilitychange', wake);
    window.addEventListener('keydown', onInput);
    window.addEventListener('pointerdown', onInput);
    void tick();
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      document.removeEventListener('visibilitychange', wake);
      window.removeEventListener('keydown', onInput);
      window.removeEventListener('pointerdown', onInput);
    };
  }, [intervalMs, ...deps]);
  return state;
}
