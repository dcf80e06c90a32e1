import { describe, expect, it } from 'vitest';
import { browserName, endOfDay } from './account';

describe('browserName', () => {
  it('names the browsers and systems people use', () => {
    const cases: Array<[string, string]> = [
      ['Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', 'Firefox on Linux'],
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Chrome on Windows'],
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0', 'Edge on Windows'],
      ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15', 'Safari on macOS'],
      ['Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1', 'Safari on iOS'],
      ['Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Chrome on Android'],
      ['curl/8.11.0', 'curl'],
    ];
    for (const [ua, name] of cases) expect(browserName(ua), ua).toBe(name);
  });
  it('shows a user agent it does not know as it is', () => {
    expect(browserName('aura-script/1.0')).toBe('aura-script/1.0');
    expect(browserName('')).toBe('unknown');
  });
});

describe('endOfDay', () => {
  it('is the last moment of the day a date input names, where the browser is', () => {
    const d = endOfDay('2027-03-01');
    expect([d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes()]).toEqual([2027, 2, 1, 23, 59]);
    expect(endOfDay('2027-03-02').getTime() - d.getTime()).toBe(new Date(2027, 2, 2, 23, 59, 59, 999).getTime() - new Date(2027, 2, 1, 23, 59, 59, 999).getTime());
  });
});
