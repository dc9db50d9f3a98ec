// A smart-HTTP git server for the tests: `git http-backend` behind a tiny
// CGI host, serving the repositories under GIT_ROOT read-only on PORT.
// Stands in for a company git host in "Register existing component".
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';

const root = process.env.GIT_ROOT;
const port = Number(process.env.PORT ?? 7182);

createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  // Read-only: no pushes.
  if (u.pathname.endsWith('/git-receive-pack') || u.searchParams.get('service') === 'git-receive-pack') {
    res.writeHead(403).end();
    return;
  }
  const cgi = spawn('git', ['http-backend'], {
    env: {
      ...process.env,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: decodeURIComponent(u.pathname),
      QUERY_STRING: u.search.slice(1),
      REQUEST_METHOD: req.method,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      CONTENT_LENGTH: req.headers['content-length'] ?? '',
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
      GIT_PROTOCOL: req.headers['git-protocol'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
    },
  });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let started = false;
  cgi.stdout.on('data', (chunk) => {
    if (started) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    let status = 200;
    for (const line of head.subarray(0, end).toString().split('\r\n')) {
      const i = line.indexOf(':');
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      if (k.toLowerCase() === 'status') status = parseInt(v, 10);
      else res.setHeader(k, v);
    }
    res.writeHead(status);
    started = true;
    res.write(head.subarray(end + 4));
  });
  cgi.stdout.on('end', () => res.end());
  cgi.on('error', () => res.writeHead(500).end());
}).listen(port, '127.0.0.1');
