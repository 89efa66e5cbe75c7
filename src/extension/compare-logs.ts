/** The palette's "Compare Training Logs…": which logs the run panel shows, and which beside it. */
import * as vscode from 'vscode';
import { logName } from '../logs/log-name';
import type { TrainingLogs } from './training-logs';

/**
 * The workspace's logs (looked for again first: the file watcher can miss some), the shown and
 * overlaid ones checked. The shown log stays shown (else the newest picked is shown); the others
 * picked are overlaid on it, the rest taken off. Given `uris`, it asks nothing: the first is shown,
 * the others overlaid.
 */
export async function compareLogs(logs: TrainingLogs, uris?: vscode.Uri[]): Promise<boolean> {
  await logs.scan();
  const list = logs.list();
  if (list.length < 2) {
    void vscode.window.showInformationMessage(
      'Layerwise: comparing takes two training logs (*.layerwise.jsonl) in this workspace.',
    );
    return false;
  }
  const shown = logs.followed?.file;
  const given = uris?.filter((u) => list.some((l) => l.uri.fsPath === u.fsPath));
  const picked = given?.length
    ? list.filter((l) => given.some((u) => u.fsPath === l.uri.fsPath))
    : await vscode.window.showQuickPick(
        list.map((l) => ({
          label: logName(l.uri.fsPath),
          description: vscode.workspace.asRelativePath(l.uri),
          picked: l.uri.fsPath === shown || logs.overlays.has(l.uri),
          uri: l.uri,
        })),
        { canPickMany: true, title: 'Layerwise: compare training logs in the run panel' },
      );
  if (!picked?.length) return false;
  const main = given?.length
    ? list.find((l) => l.uri.fsPath === given[0]!.fsPath)!.uri
    : (picked.find((p) => p.uri.fsPath === shown)?.uri ?? picked[0]!.uri);
  if (main.fsPath !== shown) await logs.show(main);
  const on = new Set(picked.map((p) => p.uri.toString()));
  for (const l of list) if (l.uri.fsPath !== main.fsPath) logs.overlays.set(l.uri, on.has(l.uri.toString()));
  return true;
}
