/**
 * A minimal React page on `useThread` (skein/react), for tests/browser/react-hook.test.ts:
 * `?user=&token=&thread=` open one thread; it lists messages with their statuses and has a
 * form that sends. Plain createElement calls: no JSX toolchain needed.
 */
import { createElement as e, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { createSkeinClient, type SkeinClient } from '../../../client/index.ts';
import { useThread } from '../../../client/react.ts';

function Thread({ client, id }: { client: SkeinClient; id: string }) {
  const { messages, syncInfo, send } = useThread(client, id);
  const [text, setText] = useState('');
  return e(
    'main',
    null,
    e('p', { id: 'sync' }, `${syncInfo.connection} ${syncInfo.state}`),
    e(
      'ol',
      { id: 'messages' },
      messages.map((m) => e('li', { key: m.id, 'data-status': m.status, 'data-seq': m.seq ?? '' }, `${m.authorId}: ${m.text}`)),
    ),
    e(
      'form',
      {
        onSubmit: (ev: { preventDefault(): void }) => {
          ev.preventDefault();
          void send(text);
          setText('');
        },
      },
      e('input', { id: 'text', value: text, onChange: (ev: { target: { value: string } }) => setText(ev.target.value) }),
      e('button', { type: 'submit' }, 'Send'),
    ),
  );
}

const q = new URLSearchParams(location.search);
const client = await createSkeinClient({ relayUrl: location.origin, userId: q.get('user')!, getToken: () => q.get('token')! });
createRoot(document.getElementById('root')!).render(e(Thread, { client, id: q.get('thread')! }));
