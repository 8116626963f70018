/** Start-form behaviour without a DOM or JupyterLab: unit-tested on its own. */

/**
 * Enter in a one-line field starts the cluster, as in any form; not in a
 * button, a list's controls or a multi-line field.
 */
export function submitsOnEnter(event: {
  key: string;
  target: EventTarget | null;
  shiftKey?: boolean;
  isComposing?: boolean;
}): boolean {
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing) {
    return false;
  }
  const target = event.target as { tagName?: string; type?: string } | null;
  const tag = target?.tagName?.toLowerCase();
  if (tag === 'select') {
    return true;
  }
  return (
    tag === 'input' &&
    !['button', 'submit', 'reset', 'file'].includes(target?.type ?? '')
  );
}

/** Titles of the form's array options, by name, for naming their items. */
export interface ILabelContext {
  arrayTitles?: Record<string, string>;
}

export function accessibleLabel(
  label: string,
  context: ILabelContext | undefined
): string {
  const item = /^(.+)-(\d+)$/.exec(label);
  if (item) {
    const title = context?.arrayTitles?.[item[1]] ?? item[1];
    return `${title}, item ${Number(item[2]) + 1}`;
  }
  return label;
}
