import { once } from "node:events";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";

/** One message an SMTP client handed over: its envelope recipients and raw content. */
export interface ReceivedMail {
  readonly recipients: readonly string[];
  readonly raw: string;
  /** The value of its Message-ID header. */
  readonly messageId: string | undefined;
}

/**
 * A minimal SMTP server on 127.0.0.1 that accepts every message (plain SMTP, no TLS, no
 * authentication) and keeps it, so tests send through the real SMTP mailer. `smtpUrl` points
 * nodemailer at it.
 */
export interface SmtpSink {
  readonly smtpUrl: string;
  readonly received: ReceivedMail[];
  close(): Promise<void>;
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.setEncoding("utf8");
    let buffer = "";
    let inData = false;
    let data: string[] = [];
    let recipients: string[] = [];
    const reply = (line: string) => socket.write(`${line}\r\n`);
    reply("220 sink ESMTP");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (;;) {
        const end = buffer.indexOf("\r\n");
        if (end < 0) return;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            const raw = data.join("\r\n");
            const messageId = /^Message-ID:\s*(.+)$/im.exec(raw)?.[1]?.trim();
            received.push({ recipients, raw, messageId });
            data = [];
            recipients = [];
            reply("250 accepted");
          } else {
            data.push(line.startsWith("..") ? line.slice(1) : line);
          }
          continue;
        }
        const command = line.slice(0, 4).toUpperCase();
        if (command === "EHLO" || command === "HELO") reply("250 sink");
        else if (command === "MAIL") reply("250 ok");
        else if (command === "RCPT") {
          recipients.push(/<([^>]*)>/.exec(line)?.[1] ?? "");
          reply("250 ok");
        } else if (command === "DATA") {
          inData = true;
          reply("354 go on");
        } else if (command === "QUIT") {
          reply("221 bye");
          socket.end();
        } else if (command === "RSET" || command === "NOOP") reply("250 ok");
        else reply("502 not implemented");
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    smtpUrl: `smtp://127.0.0.1:${port}?ignoreTLS=true`,
    received,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
