/**
 * Colours from VS Code's theme variables (--vscode-*), read live so charts follow theme changes.
 * Outside VS Code (the HTML report) the page defines fallbacks for the same variables.
 */
export interface Theme {
  fg: string;
  muted: string;
  grid: string;
  font: string;
  palette: string[];
  error: string;
  warning: string;
  band: string;
}

function cssVar(name: string, fallback: string): string {
  const v =
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() ||
    getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export function readTheme(): Theme {
  const fg = cssVar('--vscode-editor-foreground', '#cccccc');
  return {
    fg,
    muted: cssVar('--vscode-descriptionForeground', fg),
    grid: cssVar('--vscode-editorWidget-border', cssVar('--vscode-panel-border', 'rgba(128,128,128,0.35)')),
    font: cssVar('--vscode-font-family', 'sans-serif'),
    palette: [
      cssVar('--vscode-charts-blue', '#3794ff'),
      cssVar('--vscode-charts-orange', '#d18616'),
      cssVar('--vscode-charts-green', '#89d185'),
      cssVar('--vscode-charts-purple', '#b180d7'),
      cssVar('--vscode-charts-red', '#f14c4c'),
      cssVar('--vscode-charts-yellow', '#cca700'),
    ],
    error: cssVar('--vscode-errorForeground', '#f14c4c'),
    warning: cssVar('--vscode-editorWarning-foreground', '#cca700'),
    band: cssVar('--vscode-charts-green', '#89d185'),
  };
}

/** Calls `onChange` when VS Code switches theme (it changes the body's class and style). */
export function watchTheme(onChange: () => void): void {
  const obs = new MutationObserver(() => onChange());
  obs.observe(document.body, { attributes: true, attributeFilter: ['class', 'style', 'data-vscode-theme-kind'] });
  obs.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}

/** A colour with alpha, for fills. Accepts #rgb, #rrggbb or any other CSS colour (returned as is). */
export function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (!m) return color;
  let h = m[1]!;
  if (h.length === 3)
    h = h
      .split('')
      .map((c) => c + c)
      .join('');
  const n = parseInt(h, 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
