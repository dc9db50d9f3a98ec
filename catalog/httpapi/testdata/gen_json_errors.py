#!/usr/bin/env python3
"""Records how Backstage 1.55 (the oracle) and V8 reject text that is not JSON.

Usage: gen_json_errors.py ORACLE_URL NODE_BINARY > json_errors.json

- "bodies": POST /api/catalog/entities/by-query with each body (express.json,
  strict mode, then JSON.parse) and the oracle's error message.
- "cursors": GET /api/catalog/entities/by-query?cursor=... and the message.
- "parse": JSON.parse(text) messages straight from the given Node binary.
- "numbers": requests holding numbers beyond a double (1e400, which
  JSON.parse reads as Infinity): status, error message, and where the
  request succeeds the response's totalItems and its next cursor's.
"""
import base64, json, subprocess, sys, urllib.error, urllib.parse, urllib.request

oracle, node = sys.argv[1], sys.argv[2]

BODIES = [
    "{not json", "{", "   ", "\n", "x", '{"a":1 "b":2}', '{"a":1}x', '{"a":"b\nc"}',
    '{"a":"bc', "[1,2", '"abc"', "true", "123", "null", '{"a":1,}', '{"a" 1}', "{'a':1}",
    '{"a":-}', '{"a":1.}', '{"a":1e}', '{"a":"\\x"}', '{"a":"\\u12"}',
    '{"limit": 10, "query": {"kind": "component"}, "fields": [ "metadata.name", ]}',
    '{"a":tru}', '{"a":[1 2]}', '   {"a":01}', '{"a":"x"}}', '{"a":1}\r\n  xyz',
    '{"\u00e9":1,}', "  hello world, this is not json at all", "\t\t  'quoted'",
    '{"emoji":"\U0001F600",}', '{"a":"\\', "[truex]", '\ufeff{"a":1,}',
]

CURSORS = [
    "garbage", "a", "ab", "abc", "xyz!", "AAAA", "////", "e30", "W10=", "bnVsbA==",
    base64.b64encode(b'{"a":').decode(), base64.b64encode(b'\xff\xfe{"a":1}').decode(),
    base64.b64encode(b'{"orderFields":[],"isPrevious":false,"orderFieldValues":[]}}').decode(),
    base64.b64encode(b'\xe0\x80\xf0\x90\x80x\xed\xa0\x80').decode(),
    base64.b64encode("{\"caf\u00e9\": tru}".encode()).decode(),
    base64.b64encode(b'{"orderFields":[{"field":"metadata.name","order":"asc"}],"isPrevious":false,x}').decode(),
] + [base64.b64encode(s.encode()).decode() for s in [
    # Well-formed JSON of the wrong shape: zod's issue list.
    '{"hello":"world"}', '"x"', "5", "true", "[]",
    '{"orderFields":[{"field":1,"order":"up"},{},3],"isPrevious":"x","orderFieldValues":[1,null,"a"],'
    '"totalItems":"3","fullTextFilter":{"fields":[2]},"firstSortFieldValues":{}}',
    '{"orderFields":[],"isPrevious":false,"orderFieldValues":[],"fullTextFilter":3,"firstSortFieldValues":[true]}',
    '{"orderFields":[{"field":"a","order":5}],"isPrevious":false,"orderFieldValues":[]}',
    '{"orderFields":null,"isPrevious":null,"orderFieldValues":null,"fullTextFilter":null,"totalItems":null}',
    '{"orderFields":[],"isPrevious":false,"orderFieldValues":[[]],"fullTextFilter":{"term":"\u00e9","fields":"x"}}',
    # A hand-made query or legacy filter that fails the schema: zod's
    # issue list whole, with every union option's issues nested.
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":{"$all":[{"kind":{"$foo":1}}]}}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":5}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":{"$bad":1}}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":{"$not":{"kind":"a"},"x":1}}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":{"kind":"a","$x":1}}',
    '{"orderFields":[],"orderFieldValues":[],"query":{"kind":{"$in":[null]}},"totalItems":"x"}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":{"":{"$exists":"yes"}}}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":[]}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":null}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":{"a":{"$hasPrefix":1},"b\\nc":"x"}}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"query":{"$any":[{"spec.type":{"$contains":{"$not":3}}}]}}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"filter":3}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"filter":{"key":1}}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"filter":{"anyOf":[{"key":"a","values":["x",2]},{"x":1}]}}',
    '{"orderFields":[],"orderFieldValues":[],"isPrevious":false,"filter":{"not":{"key":"kind","values":["component"]}}}',
    '{"orderFields":[{"field":1,"order":"up"}],"orderFieldValues":[],"filter":{"allOf":1},"query":{"$any":[1]},"firstSortFieldValues":[2]}',
]]

PARSE = [
    "-", "[-", '"\\', '"\\u1', '"abc\\', '{"a":1,\r\n"b" x}', "\r\n\r\nx", "\r\rx", "\n\r\nx",
    "\r\n", "NaN", "Infinity", "undefined", "[object Object]", "-Infinity", "[tr1]", '[t"]',
    "[truex]", "[1,]", "[,1]", '{"a":1,"b"}', "01", "-01", "1.5e+", "1E5x", '["\\ud800"]',
    "\u00e9x", "a" * 24, '{"aaaaaaaaaaaaa":1}}', '{"aaaaaaaaaaaaaaaaaaaa":x}',
    "[1,2,3,4,5,6,7,8,9,10,x,12,13,14,15,16]", " " * 11 + "x" + " " * 11, "\t", "[\u0001]",
    '"a\u0000b"', '{"a"\n:\n1\n,\n}', "[1]    ]", "[\u00a0]", "\ufeff{}", '{"a":"\\q"}',
    '{"a":"\\uZZZZ"}', "[1.]", "[1e]", "[1e-]", "[-a]", "[fals]", "[nul", "[t", "{\"a\"", "{\"a\":",
    '{"a":1', '{"a":1,', "[1,2", "[", '[""', '[1 "x"]', '[1 2]', '{"a" "b"}', '{1:2}',
    "0x10", ".5", "+1", "[01]", "[00]", "[-0]", "[1.5e10, -0.0, 2E-3]", "{}", "[]", '"ok"',
    "[\"\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\", x]",
]

def b64(s):
    return base64.b64encode(s.encode()).decode()


def entity_cursor(total):
    return b64('{"orderFields":[],"isPrevious":false,"orderFieldValues":["0"],"firstSortFieldValues":["0"],'
               '"totalItems":' + total + '}')


NUMBERS = [
    ("POST", "/entities/by-refs", '{"entityRefs":["component:default/nope"],"x":1e400}'),
    ("POST", "/entities/by-query", '{"limit":1e400}'),
    ("POST", "/entities/by-query", '{"limit":-1e400}'),
    ("POST", "/entities/by-query", '{"offset":1e400}'),
    ("POST", "/entities/by-query", '{"limit":1,"query":{"metadata.name":1e400}}'),
    ("GET", "/entities/by-query?limit=1&cursor=" + urllib.parse.quote(entity_cursor("1e400"), safe=""), None),
    ("GET", "/entities/by-query?limit=1&cursor=" + urllib.parse.quote(entity_cursor("-1e400"), safe=""), None),
    ("GET", "/entities/by-query?limit=1&cursor=" + urllib.parse.quote(entity_cursor("2.5"), safe=""), None),
    ("GET", "/entities?after=" + urllib.parse.quote(b64('{"limit":1e400,"offset":0}'), safe=""), None),
    ("GET", "/entities?after=" + urllib.parse.quote(b64('{"limit":1,"offset":-1e400}'), safe=""), None),
    ("POST", "/locations/by-query", '{"limit":1e400}'),
    ("POST", "/locations/by-query", '{"cursor":"' + b64('{"limit":1e400}') + '"}'),
    ("POST", "/locations/by-query", '{"cursor":"' + b64('{"limit":-1e400}') + '"}'),
    # In a query string the validator lets ±Infinity through: a limit reads
    # everything or fails below zero, an offset is ignored or refused.
    ("GET", "/entities/by-query?limit=Infinity", None),
    ("GET", "/entities/by-query?limit=-1e400", None),
    ("GET", "/entities/by-query?limit=1&offset=-Infinity", None),
    ("GET", "/entities?limit=1e400", None),
    ("GET", "/entities?limit=-Infinity", None),
    ("GET", "/entities?limit=1&offset=Infinity", None),
    ("GET", "/entities?limit=1&offset=-1e400", None),
]


def number_case(method, path, body):
    req = urllib.request.Request(oracle + "/api/catalog" + path, method=method,
                                 data=body.encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    case = {"method": method, "path": path, "body": body}
    try:
        with urllib.request.urlopen(req) as res:
            case["status"], doc = res.status, json.loads(res.read())
    except urllib.error.HTTPError as e:
        case["status"], doc = e.code, json.loads(e.read())
    if "error" in doc:
        case["message"] = doc["error"]["message"]
    if "items" in doc and "totalItems" not in doc:
        case["items"] = doc["items"]
    # Totals depend on the catalog; only a cursor's are the request's own.
    if "totalItems" in doc and "cursor" in path:
        case["totalItems"] = doc["totalItems"]
        nxt = doc.get("pageInfo", {}).get("nextCursor")
        if nxt is not None:
            case["nextTotalItems"] = json.loads(base64.b64decode(nxt)).get("totalItems")
    return case


def post(body):
    req = urllib.request.Request(oracle + "/api/catalog/entities/by-query", data=body.encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    return message(req)


def get_cursor(cur):
    return message(urllib.request.Request(
        oracle + "/api/catalog/entities/by-query?cursor=" + urllib.parse.quote(cur, safe="")))


def message(req):
    try:
        with urllib.request.urlopen(req) as res:
            res.read()
            return None
    except urllib.error.HTTPError as e:
        return json.loads(e.read())["error"]["message"]


script = "const t=JSON.parse(require('fs').readFileSync(0,'utf8'));" \
         "console.log(JSON.stringify(t.map(s=>{try{JSON.parse(s);return null}catch(e){return e.message}})))"
parsed = json.loads(subprocess.run([node, "-e", script], input=json.dumps(PARSE), capture_output=True,
                                   text=True, check=True).stdout)
out = {
    "bodies": [{"body": b, "message": post(b)} for b in BODIES],
    "cursors": [{"cursor": c, "message": get_cursor(c)} for c in CURSORS],
    "parse": [{"text": t, "message": m} for t, m in zip(PARSE, parsed)],
    "numbers": [number_case(*r) for r in NUMBERS],
}
json.dump(out, sys.stdout, indent=1, ensure_ascii=True)
print()
