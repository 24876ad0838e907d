/** The sign-in screen (dev sign-in: any name gets a token from the relay). */
import { h } from './dom.ts';
import { USER_KEY, devToken, tokenKey } from './session.ts';

/**
 * Shows the sign-in form in `root`; calls `onSignedIn` with the user once a token is stored,
 * or `onGuest` for "Continue as guest" (nothing leaves this browser).
 */
export function showSignIn(root: HTMLElement, onSignedIn: (user: string) => void, onGuest: () => void): void {
  const error = h('p', { class: 'error', role: 'alert' });
  const input = h('input', { id: 'signin-name', name: 'user', autocomplete: 'username', required: true, maxlength: 64 });
  const form = h(
    'form',
    {
      class: 'signin-form',
      onsubmit: (e) => {
        e.preventDefault();
        const user = input.value.trim();
        if (!user || user.includes('|')) {
          error.textContent = 'Enter a name (without "|").';
          return;
        }
        error.textContent = '';
        devToken(user).then(
          (token) => {
            localStorage.setItem(tokenKey(user), token);
            localStorage.setItem(USER_KEY, user);
            onSignedIn(user);
          },
          (err: Error) => {
            error.textContent = err.message.includes('fetch') ? 'The relay is not reachable.' : err.message;
          },
        );
      },
    },
    h('label', { for: 'signin-name' }, 'Your name'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  );
  root.replaceChildren(
    h(
      'main',
      { class: 'signin' },
      h('h1', {}, 'Skein'),
      h('p', {}, 'Local-first chat: threads open instantly and work offline; a relay orders every message and can mirror it to the AT Protocol.'),
      form,
      h('p', { class: 'hint' }, 'Development sign-in: anyone can sign in under any name. Production relays use real tokens.'),
      h(
        'p',
        { class: 'guest' },
        h('button', { type: 'button', id: 'continue-as-guest', onclick: () => onGuest() }, 'Continue as guest'),
        ' ',
        h('span', { class: 'hint' }, 'Threads stay in this browser (shared by its tabs) and nothing is sent to the relay. After signing in you can upload them or keep them here.'),
      ),
    ),
  );
  input.focus();
}
