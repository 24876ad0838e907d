/**
 * The demo bot's deterministic "model": a reply built from the message it answers, split
 * into the chunks it streams. No model, no network: the same message gives the same reply.
 */

/** Words (with their trailing space) of the reply to `text`. */
export function replyChunks(text: string): string[] {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const echo = words.slice(0, 12).join(' ');
  const reply =
    `Hi! I am skein-bot, a demo that runs inside the relay. You wrote ${words.length} word${words.length === 1 ? '' : 's'}` +
    (echo ? ` (“${echo}${words.length > 12 ? ' …' : ''}”)` : '') +
    '. This reply is streamed word by word: every open tab and every device in this thread sees it grow, ' +
    'and when it is done it becomes an ordinary message with its own place in the thread.';
  return reply.split(/(?<= )/);
}
