/**
 * The composer of the open thread: Enter sends, Shift+Enter breaks the line, typing is
 * announced to others at most every 2 s, and a counter appears near the relay's text limit
 * (sending is blocked above it, with what to do instead of a raw error).
 */
import { SkeinError, type ThreadView } from '../index.ts';
import type { App } from './app-state.ts';
import { h } from './dom.ts';

const TYPING_SEND_EVERY_MS = 2000;
/** The counter shows from this share of the limit on. */
const COUNTER_FROM = 0.8;

export interface Composer {
  el: HTMLElement;
  input: HTMLTextAreaElement;
  error: HTMLElement;
}

/** Readable text for a refused send. */
function sendErrorText(err: unknown): string {
  if (err instanceof SkeinError) {
    if (err.code === 'THREAD_ARCHIVED') return 'This thread is archived; nothing can be sent to it. Reopen it or continue in a new thread.';
    if (err.code === 'TEXT_TOO_LONG') return `Not sent: ${err.message}. Shorten it or split it into several messages.`;
  }
  return `Not sent: ${(err as Error).message}.`;
}

export function composerView(app: App, view: ThreadView): Composer {
  let lastTypingSent = 0;
  const limit = () => app.caps?.limits?.maxTextLength ?? 10_000;
  const counter = h('span', { class: 'counter', id: 'compose-counter', 'aria-live': 'polite' });
  const error = h('p', { class: 'error', role: 'alert', id: 'send-error' });
  const submit = h('button', { type: 'submit' }, 'Send');
  const updateCounter = () => {
    const n = input.value.length;
    const max = limit();
    const over = n > max;
    counter.textContent = n >= max * COUNTER_FROM ? (over ? `${n - max} characters too long (at most ${max})` : `${n} / ${max}`) : '';
    counter.classList.toggle('over', over);
    submit.disabled = over;
  };
  const input = h('textarea', {
    id: 'compose',
    rows: 2,
    placeholder: 'Write a message',
    'aria-describedby': 'compose-counter send-error',
    oninput: () => {
      updateCounter();
      const now = Date.now();
      if (now - lastTypingSent > TYPING_SEND_EVERY_MS) {
        lastTypingSent = now;
        view.setTyping(true);
      }
    },
    onkeydown: (e) => {
      const k = e as KeyboardEvent;
      if (k.key === 'Enter' && !k.shiftKey && !k.isComposing) {
        k.preventDefault();
        void send();
      }
    },
  });
  const send = async () => {
    const text = input.value.trim();
    if (!text) return;
    if (text.length > limit()) {
      error.textContent = sendErrorText(new SkeinError('TEXT_TOO_LONG', `the text has ${text.length} characters; this relay takes at most ${limit()}`));
      return;
    }
    error.textContent = '';
    try {
      input.value = '';
      updateCounter();
      lastTypingSent = 0;
      view.setTyping(false);
      await view.send(text);
    } catch (err) {
      input.value = text;
      updateCounter();
      error.textContent = sendErrorText(err);
    }
  };
  const form = h(
    'form',
    {
      class: 'composer',
      onsubmit: (e) => {
        e.preventDefault();
        void send();
      },
    },
    h('label', { for: 'compose', class: 'visually-hidden' }, 'Message'),
    input,
    submit,
  );
  return { el: h('div', { class: 'composer-wrap', id: 'composer' }, form, counter, error), input, error };
}
