import { useCallback, useEffect, useRef, useState } from 'react';
import { type ApiError, asApiError } from './api';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: ApiError | null;
  readonly loading: boolean;
  /** Loads again, keeping the data shown meanwhile. */
  reload(): Promise<void>;
}

/** Loads `fn()` when `deps` change; an answer that arrives after newer deps is dropped. */
export function useLoad<T>(fn: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const gen = useRef(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const run = useCallback(async () => {
    const mine = ++gen.current;
    setLoading(true);
    try {
      const value = await fnRef.current();
      if (mine !== gen.current) return;
      setData(value);
      setError(null);
    } catch (err) {
      if (mine !== gen.current) return;
      setError(asApiError(err));
    } finally {
      if (mine === gen.current) setLoading(false);
    }
  }, []);
  useEffect(
    () => {
      setData(undefined);
      void run();
    },
    // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps decide when to load again
    deps,
  );
  return { data, error, loading, reload: run };
}

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: ApiError };

/** Runs one write at a time: `busy` while it runs, its error kept until the next run. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = useCallback(async <T>(fn: () => Promise<T>): Promise<Outcome<T>> => {
    setBusy(true);
    setError(null);
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      const e = asApiError(err);
      setError(e);
      return { ok: false, error: e };
    } finally {
      setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setError(null), []);
  return { busy, error, run, clear };
}
