// ${{ values.name }}: ${{ values.description }}
const http = require('node:http');

const port = Number(process.env.PORT || ${{ values.port }});

http
  .createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ service: '${{ values.name }}', path: req.url }));
  })
  .listen(port, () => console.log(`${{ values.name }} listening on ${port}`));
