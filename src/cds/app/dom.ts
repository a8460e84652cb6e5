/** Browser: small DOM helpers shared by the trial page and the coordinator overview. */

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

/** A table in a horizontally scrolling box, so a wide table never widens a phone's page. */
export function table(
  caption: string,
  headers: string[],
  rows: (string | number)[][],
  attrs: Record<string, string> = {},
  numeric: readonly number[] = [],
): HTMLElement {
  return el('div', { class: 'scroll' }, [
    el('table', attrs, [
      el('caption', {}, [caption]),
      el('thead', {}, [
        el(
          'tr',
          {},
          headers.map((h) => el('th', { scope: 'col' }, [h])),
        ),
      ]),
      el(
        'tbody',
        {},
        rows.map((r) =>
          el(
            'tr',
            {},
            r.map((c, i) => el('td', numeric.includes(i) ? { class: 'num' } : {}, [String(c)])),
          ),
        ),
      ),
    ]),
  ]);
}

export const day = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : '');
