/**
 * "New thread": title, members and the AT mirroring choice, behind a button so that the
 * keyboard path from the list to a thread does not cross the whole form. Publishing is never
 * preselected unless the relay is configured to (`mirrorDefault`), and a bridge that is
 * briefly `starting` or degraded does not flip the choice.
 */
import type { App } from './app-state.ts';
import { h } from './dom.ts';

export interface NewThreadForm {
  el: HTMLElement;
  /** Capabilities changed. */
  update(): void;
}

export function newThreadForm(app: App): NewThreadForm {
  const title = h('input', { id: 'new-title', maxlength: 200, autocomplete: 'off' });
  const members = h('input', { id: 'new-members', autocomplete: 'off', 'aria-describedby': 'new-members-hint' });
  const follow = h('input', { id: 'new-follow', autocomplete: 'off', spellcheck: false, placeholder: 'at://did:…/dev.skein.chat.thread/…', 'aria-describedby': 'new-follow-hint' });
  const mirrorNo = h('input', { type: 'radio', name: 'mirror', id: 'mirror-no', value: 'no', checked: true });
  const mirrorYes = h('input', { type: 'radio', name: 'mirror', id: 'mirror-yes', value: 'yes' });
  const bridgeNote = h('p', { class: 'hint', id: 'mirror-hint' });
  const error = h('p', { class: 'error', role: 'alert' });
  let touched = false;
  mirrorYes.addEventListener('change', () => (touched = true));
  mirrorNo.addEventListener('change', () => (touched = true));
  const toggle = h(
    'button',
    { type: 'button', id: 'new-thread-toggle', class: 'new-thread-toggle', 'aria-expanded': 'false', 'aria-controls': 'new-thread-form' },
    '+ New thread',
  );
  const setOpen = (open: boolean) => {
    form.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) title.focus();
  };
  toggle.addEventListener('click', () => setOpen(form.hidden));
  const form = h(
    'form',
    {
      class: 'new-thread',
      id: 'new-thread-form',
      'aria-labelledby': 'new-thread-heading',
      hidden: true,
      onsubmit: (e) => {
        e.preventDefault();
        const participants = members.value
          .split(/[,\s]+/)
          .map((s) => s.trim())
          .filter(Boolean);
        error.textContent = '';
        const joining = follow.value.trim();
        app.client.createThread({ title: title.value.trim(), participants, ...(joining ? { follow: joining } : { mirror: mirrorYes.checked }) }).then(
          (t) => {
            title.value = '';
            members.value = '';
            follow.value = '';
            touched = false;
            mirrorNo.checked = true;
            update();
            form.hidden = true;
            toggle.setAttribute('aria-expanded', 'false');
            app.announcer.say(`Thread ${t.title || 'Untitled thread'} created.`);
            app.show(t.id);
            app.focusComposer();
          },
          (err: Error) => (error.textContent = `Could not create the thread: ${err.message}`),
        );
      },
      onkeydown: (e) => {
        if ((e as KeyboardEvent).key !== 'Escape') return;
        setOpen(false);
        toggle.focus();
      },
    },
    h('h2', { id: 'new-thread-heading' }, 'New thread'),
    h('label', { for: 'new-title' }, 'Title'),
    title,
    // A guest thread has no relay: no other members, no AT, nothing to join. Only a title.
    ...(app.guest
      ? [h('p', { class: 'hint', id: 'new-guest-hint' }, 'Guest threads stay in this browser. Sign in to upload them and add members.')]
      : relayFields()),
    h('button', { type: 'submit' }, 'Create thread'),
    error,
  );
  /** Members, the AT choice and joining another relay's thread: what only a relay offers. */
  function relayFields(): HTMLElement[] {
    return [
      h('label', { for: 'new-members' }, 'Members'),
      members,
      h('p', { class: 'hint', id: 'new-members-hint' }, 'Names separated by commas. You are added automatically. Add skein-bot (when the relay runs it) for a streamed reply.'),
      h(
        'fieldset',
        { 'aria-describedby': 'mirror-hint' },
        h('legend', {}, 'Publish to the AT Protocol?'),
        h('div', { class: 'radio' }, mirrorNo, h('label', { for: 'mirror-no' }, 'No – messages stay on this relay, visible to members only')),
        h('div', { class: 'radio' }, mirrorYes, h('label', { for: 'mirror-yes' }, 'Yes – also publish every message as a public AT record that anyone can read')),
        bridgeNote,
      ),
      h('label', { for: 'new-follow' }, 'Join a thread of another relay (optional)'),
      follow,
      h('p', { class: 'hint', id: 'new-follow-hint' }, 'Paste the at:// URI shown in that thread. It is then published to AT from here too.'),
    ];
  }
  const update = () => {
    const on = app.caps?.atproto.features.write_bridge === true;
    mirrorYes.disabled = !on;
    follow.disabled = !on;
    if (!on) mirrorNo.checked = true;
    else if (!touched && app.caps?.atproto.mirrorDefault) mirrorYes.checked = true;
    bridgeNote.textContent = on
      ? 'Public, and fixed when the thread is created: every member sees this choice.'
      : 'This relay has AT publishing turned off, so threads stay on the relay.';
  };
  update();
  return { el: h('div', { class: 'new-thread-wrap' }, toggle, form), update };
}
