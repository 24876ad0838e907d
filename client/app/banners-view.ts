/** Banners above the layout: offline (with the time of the latest messages) and AT degraded. */
import type { Connection } from '../index.ts';
import type { App } from './app-state.ts';
import { formatTime, h } from './dom.ts';
import { bridgeReasonText } from './status-view.ts';

export class BannersView {
  readonly el = h('div', { class: 'banners' });

  /**
   * `everOnline`: a `connecting` after having been online is shown as offline (reconnecting);
   * before the first connection it is not (see the header's "Connecting").
   */
  render(app: App, conn: Connection, everOnline: boolean, lastOnlineAt: number | null): void {
    const out: HTMLElement[] = [];
    const current = app.currentId ? app.threads.get(app.currentId)?.view : null;
    const offline = conn === 'offline' || (conn === 'connecting' && everOnline);
    if (offline) {
      const at = Math.max(lastOnlineAt ?? 0, current?.syncInfo.lastSyncedAt ?? 0);
      out.push(
        h(
          'div',
          { class: 'banner banner-offline', id: 'offline-banner' },
          h('span', { 'aria-hidden': 'true' }, '⚡ '),
          at ? `Offline – latest messages at ${formatTime(at)}` : 'Offline – no messages loaded from the relay yet',
          h('span', { class: 'banner-detail' }, ' · You can keep writing; messages are sent when the relay is back.'),
        ),
      );
    }
    const caps = app.caps;
    const bridgeOn = caps?.atproto.features.write_bridge === true;
    const mirrored = current?.meta?.mirror === true;
    // A bridge making its first login is not worth a warning: it is on, messages queue.
    if (bridgeOn && caps?.atproto.degraded && caps.atproto.reason !== 'starting' && (mirrored || !app.currentId)) {
      out.push(
        h(
          'div',
          { class: 'banner banner-warning', id: 'at-degraded-banner' },
          h('span', { 'aria-hidden': 'true' }, '⚠ '),
          `AT mirroring is delayed or failing: ${bridgeReasonText(caps.atproto.reason)}.`,
          ' Messages are safe on the relay and are mirrored when the AT service recovers; nothing to do.',
        ),
      );
    }
    const sig = out.map((e) => e.textContent).join('\n');
    if (this.el.dataset.sig !== sig) {
      this.el.dataset.sig = sig;
      this.el.replaceChildren(...out);
    }
  }
}
