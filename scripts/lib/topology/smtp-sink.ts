import { createServer, type Socket } from "node:net";

/**
 * A mail catcher for the topology: an SMTP server on 127.0.0.1 that accepts every message and
 * keeps it in memory, so that the workers send their emails over real SMTP (the kit's
 * production mailer, nodemailer) and a test can read the link out of them. It speaks the part
 * of SMTP a client needs (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), without TLS or
 * authentication, and decodes the plain-text part of each message.
 */

interface CaughtMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  /** The text/plain part, decoded. */
  readonly text: string;
  /** The message as received (headers and body). */
  readonly raw: string;
}

export interface SmtpSink {
  readonly port: number;
  readonly messages: readonly CaughtMail[];
  /** The first message (already caught or still to come) that `match` accepts. */
  waitFor(match: (mail: CaughtMail) => boolean, timeoutMs?: number): Promise<CaughtMail>;
  onMessage(listener: (mail: CaughtMail) => void): void;
  /**
   * Holds the final reply to each message (250, "accepted") this long after the message was
   * caught: a sender killed in between has delivered a mail it never saw accepted.
   */
  delayAcceptance(ms: number): void;
  close(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: CaughtMail[] = [];
  const listeners = new Set<(mail: CaughtMail) => void>();
  const sockets = new Set<Socket>();
  let acceptanceDelayMs = 0;

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.setEncoding("utf8");
    const reply = (line: string) => socket.write(`${line}\r\n`);
    let from = "";
    let to: string[] = [];
    let data: string[] | undefined;
    let size = 0;
    let buffered = "";

    const command = (line: string) => {
      const verb = line.slice(0, 4).toUpperCase();
      const argument = line.slice(4).trim();
      switch (verb) {
        case "EHLO":
          reply("250-localhost");
          reply("250-8BITMIME");
          reply("250-SMTPUTF8");
          reply(`250 SIZE ${MAX_MESSAGE_BYTES}`);
          return;
        case "HELO":
          return reply("250 localhost");
        case "MAIL":
          from = addressIn(argument);
          to = [];
          return reply("250 2.1.0 OK");
        case "RCPT":
          to.push(addressIn(argument));
          return reply("250 2.1.5 OK");
        case "DATA":
          if (to.length === 0) return reply("503 5.5.1 RCPT first");
          data = [];
          size = 0;
          return reply("354 end with <CRLF>.<CRLF>");
        case "RSET":
          from = "";
          to = [];
          return reply("250 2.0.0 OK");
        case "NOOP":
          return reply("250 2.0.0 OK");
        case "QUIT":
          reply("221 2.0.0 bye");
          socket.end();
          return;
        default:
          return reply("502 5.5.2 command not implemented");
      }
    };

    const dataLine = (lines: string[], line: string) => {
      if (line === ".") {
        data = undefined;
        if (size > MAX_MESSAGE_BYTES) return reply("552 5.3.4 message too big");
        const mail = parseMessage(from, to, lines.join("\r\n"));
        messages.push(mail);
        for (const listener of listeners) listener(mail);
        if (acceptanceDelayMs === 0) return reply("250 2.0.0 queued");
        setTimeout(() => reply("250 2.0.0 queued"), acceptanceDelayMs);
        return;
      }
      size += line.length + 2;
      // Dot-stuffing: a line the client began with "." was sent with ".." (RFC 5321 4.5.2).
      if (size <= MAX_MESSAGE_BYTES) lines.push(line.startsWith(".") ? line.slice(1) : line);
    };

    reply("220 localhost ESMTP topology mail sink");
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      let end = buffered.indexOf("\r\n");
      while (end >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (data) dataLine(data, line);
        else command(line);
        end = buffered.indexOf("\r\n");
      }
    });
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });

  return {
    port,
    messages,
    onMessage: (listener) => {
      listeners.add(listener);
    },
    delayAcceptance: (ms) => {
      acceptanceDelayMs = ms;
    },
    waitFor: (match, timeoutMs = 30_000) => {
      const caught = messages.find(match);
      if (caught) return Promise.resolve(caught);
      return new Promise((resolve, reject) => {
        const listener = (mail: CaughtMail) => {
          if (!match(mail)) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(mail);
        };
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`no such email within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        listeners.add(listener);
      });
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `FROM:<a@b>` or `TO:<a@b> SIZE=1` → `a@b`. */
function addressIn(argument: string): string {
  return /<([^>]*)>/.exec(argument)?.[1] ?? argument.replace(/^(FROM|TO):/i, "").trim();
}

interface Part {
  headers: Map<string, string>;
  body: string;
}

function parseMessage(from: string, to: string[], raw: string): CaughtMail {
  const message = splitPart(raw);
  return {
    from,
    to: [...to],
    subject: decodeWords(message.headers.get("subject") ?? ""),
    text: plainText(message) ?? "",
    raw,
  };
}

/** Headers (unfolded, names in lower case) and body of a MIME entity. */
function splitPart(raw: string): Part {
  const end = raw.indexOf("\r\n\r\n");
  const head = end >= 0 ? raw.slice(0, end) : raw;
  const body = end >= 0 ? raw.slice(end + 4) : "";
  const headers = new Map<string, string>();
  for (const field of head.replace(/\r\n[ \t]+/g, " ").split("\r\n")) {
    const colon = field.indexOf(":");
    if (colon > 0)
      headers.set(field.slice(0, colon).trim().toLowerCase(), field.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** The decoded text/plain part of a message, looking inside multipart entities. */
function plainText(part: Part): string | undefined {
  const type = part.headers.get("content-type") ?? "text/plain";
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    const pieces = part.body.split(`--${boundary}`).slice(1);
    for (const piece of pieces) {
      if (piece.startsWith("--")) break;
      const text = plainText(splitPart(piece.replace(/^\r\n/, "")));
      if (text !== undefined) return text;
    }
    return undefined;
  }
  if (!/^text\/plain/i.test(type)) return undefined;
  return decodeBody(part.body, part.headers.get("content-transfer-encoding") ?? "7bit");
}

function decodeBody(body: string, encoding: string): string {
  switch (encoding.toLowerCase()) {
    case "quoted-printable":
      return quotedPrintable(body);
    case "base64":
      return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    default:
      return body;
  }
}

function quotedPrintable(text: string): string {
  const bytes: number[] = [];
  const unfolded = text.replace(/=\r\n/g, "");
  for (let index = 0; index < unfolded.length; index += 1) {
    const hex = unfolded.slice(index + 1, index + 3);
    if (unfolded[index] === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      index += 2;
    } else {
      bytes.push(...Buffer.from(unfolded[index] ?? "", "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** RFC 2047 encoded words (=?UTF-8?Q?...?= and =?UTF-8?B?...?=) in a header. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, "?==?")
    .replace(
      /=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g,
      (_, _charset: string, kind: string, text: string) =>
        kind.toUpperCase() === "B"
          ? Buffer.from(text, "base64").toString("utf8")
          : quotedPrintable(text.replace(/_/g, " ")),
    );
}
