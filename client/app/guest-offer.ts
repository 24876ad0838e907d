/**
 * After sign-in, when this browser holds threads from a guest session: an explicit choice
 * to upload them to the relay (ids and order kept, each message once) or keep them here.
 */
import { type SkeinClient, createSkeinClient, uploadGuestThreads } from '../index.ts';
import type { Announcer } from './announcer.ts';
import { h } from './dom.ts';
import { GUEST_KEPT_KEY } from './session.ts';

/** Resolves with the offer's element, or null when there is nothing to offer. */
export async function guestOffer(client: SkeinClient, announcer: Announcer, onUploaded: (ids: string[]) => void): Promise<HTMLElement | null> {
  if (localStorage.getItem(GUEST_KEPT_KEY)) return null;
  const guest = await createSkeinClient({ guest: true });
  const count = guest.threads().length;
  if (count === 0) {
    await guest.close();
    return null;
  }
  const status = h('p', { class: 'hint', role: 'status' });
  const upload = h('button', { type: 'button', id: 'guest-upload' }, `Upload ${count === 1 ? 'it' : `all ${count}`} to the relay`);
  const keep = h('button', { type: 'button', id: 'guest-keep' }, 'Keep them in this browser only');
  const el = h(
    'section',
    { class: 'banner guest-offer', id: 'guest-offer', 'aria-labelledby': 'guest-offer-heading' },
    h('h2', { id: 'guest-offer-heading' }, `You have ${count} thread${count === 1 ? '' : 's'} from your guest session`),
    h('p', {}, 'Uploading makes them yours on the relay, with every message in its order; keeping them leaves them only in this browser.'),
    upload,
    ' ',
    keep,
    status,
  );
  upload.addEventListener('click', () => {
    upload.disabled = keep.disabled = true;
    status.textContent = 'Uploading…';
    uploadGuestThreads({ guest, to: client }).then(
      async (ids) => {
        await guest.close();
        el.remove();
        announcer.say(`Uploaded ${ids.length} guest thread${ids.length === 1 ? '' : 's'}.`);
        onUploaded(ids);
      },
      (err: Error) => {
        upload.disabled = keep.disabled = false;
        status.textContent = `Upload failed: ${err.message}. Nothing was lost; try again.`;
      },
    );
  });
  keep.addEventListener('click', () => {
    localStorage.setItem(GUEST_KEPT_KEY, '1');
    void guest.close();
    el.remove();
    announcer.say('Your guest threads stay in this browser.');
  });
  return el;
}
