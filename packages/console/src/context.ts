import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Runway } from '@runway/client';
import type { Abilities } from './credential';

export interface ConsoleContext {
  rw: Runway;
  can: Abilities;
  signOut: () => void;
}

export const Console = createContext<ConsoleContext | null>(null);

export function useConsole(): ConsoleContext {
  const ctx = useContext(Console);
  if (!ctx) throw new Error('useConsole outside a signed-in console');
  return ctx;
}
