/** What a member can do to a thread from the app: archive, reopen, resend, continue elsewhere. */
import type { ThreadView, ViewMessage } from '../index.ts';
import type { App, ThreadUi } from './app-state.ts';
import { saveOwn } from './thread-ui.ts';

export async function archive(app: App, view: ThreadView): Promise<void> {
  try {
    await app.client.archiveThread(view.threadId);
    app.announcer.say(`Thread ${app.titleOf(view.threadId)} archived.`);
  } catch (err) {
    app.showError(`Could not archive: ${(err as Error).message}`);
  }
}

/** Reopens an archived thread; resolves true once this copy of the document knows it. */
export async function reopen(app: App, view: ThreadView): Promise<boolean> {
  const res = await fetch(`/v1/threads/${encodeURIComponent(view.threadId)}/unarchive`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await app.getToken()}` },
  }).catch(() => null);
  if (!res?.ok) {
    app.showError(res ? `Could not reopen the thread (${res.status}).` : 'Could not reopen the thread: the relay is not reachable.');
    return false;
  }
  void app.client.refreshThreads().catch(() => {});
  // The relay writes `meta.archived = false` into the document; sending waits for it.
  await new Promise<void>((resolve) => {
    if (!view.meta?.archived) return resolve();
    const timer = setTimeout(done, 15_000);
    const off = view.subscribe(() => {
      if (!view.meta?.archived) done();
    });
    function done() {
      clearTimeout(timer);
      off();
      resolve();
    }
  });
  app.announcer.say(`Thread ${app.titleOf(view.threadId)} reopened.`);
  return !view.meta?.archived;
}

/** Reopens the thread and sends a refused message's text again (as a new message). */
export async function reopenAndResend(app: App, ui: ThreadUi, m: ViewMessage): Promise<void> {
  if (!(await reopen(app, ui.view))) return;
  try {
    await ui.view.send(m.text);
    ui.own.delete(m.id);
    saveOwn(app.user, ui);
    app.scheduleRender();
  } catch (err) {
    app.showError(`Not sent: ${(err as Error).message}`);
  }
}

/** The other way forward from an archived thread: a new thread with the same members. */
export async function continueInNewThread(app: App, view: ThreadView, text?: string): Promise<void> {
  const meta = view.meta;
  try {
    const t = await app.client.createThread({
      title: `${meta?.title || 'Untitled thread'} (continued)`,
      participants: (meta?.participants ?? []).filter((p) => p !== app.user),
      mirror: meta?.mirror === true && app.caps?.atproto.features.write_bridge === true,
    });
    app.show(t.id);
    if (text) await app.threads.get(t.id)!.view.send(text);
    app.focusComposer();
  } catch (err) {
    app.showError(`Could not start a new thread: ${(err as Error).message}`);
  }
}
