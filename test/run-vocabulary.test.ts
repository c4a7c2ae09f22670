import { ACTIVE_STATUSES, isTerminal, RUN_STATUSES, shownStatus, TERMINAL_STATUSES } from '../workflows/run-vocabulary';

describe('run vocabulary', () => {
  test('every status is either active or terminal, never both', () => {
    expect([...ACTIVE_STATUSES, ...TERMINAL_STATUSES].sort()).toEqual([...RUN_STATUSES].sort());
    for (const status of RUN_STATUSES) expect(isTerminal(status)).toBe(TERMINAL_STATUSES.includes(status as never));
    expect(isTerminal('rejected')).toBe(false);
  });

  test('a stopping run reads stopping until it reaches a terminal status', () => {
    for (const next of RUN_STATUSES) {
      expect(shownStatus('stopping', next)).toBe(isTerminal(next) ? next : 'stopping');
      for (const current of RUN_STATUSES.filter((s) => s !== 'stopping')) expect(shownStatus(current, next)).toBe(next);
    }
  });
});
