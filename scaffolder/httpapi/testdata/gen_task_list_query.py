#!/usr/bin/env python3
"""Records how Backstage 1.55 (the oracle) answers GET /api/scaffolder/v2/tasks
with unusual query strings, mostly limit and offset.

Usage: gen_task_list_query.py ORACLE_URL > task_list_query.json

The oracle must be freshly started (its database is in memory) so that it
holds no task: the script creates three from the fixture template
(template:default/example-template), a second apart because created_at has
second resolution there, then sends each query. A case records the status;
for a task list, the tasks listed as their positions in creation order (0 is
the first created) and totalTasks; for an error, the whole body.
"""
import json, sys, time, urllib.error, urllib.request

oracle = sys.argv[1].rstrip("/")
base = oracle + "/api/scaffolder/v2/tasks"

QUERIES = [
    # The inputs Backstage's validator and Number() read differently from
    # strconv.Atoi.
    "limit=1e2", "limit=0x10", "limit=%205", "offset=1.0", "limit=Infinity", "limit=1e400",
    "limit=-1", "limit=", "limit=abc", "limit=1&limit=2", "offset=-0", "limit=1.5",
    # The same readings where fewer than all three tasks come back.
    "limit=1e0", "limit=0x1", "limit=0b1", "limit=0o1", "limit=%201", "limit=1%20", "limit=+1",
    "limit=%C2%A01", "limit=01", "offset=2e0", "limit=2&offset=1", "limit=.5e1", "limit=5.",
    # Zero: " ", a tab and 1e-400 are Number 0, and a limit of 0 lists nothing.
    "limit=0", "limit=-0", "offset=0", "limit=%20", "limit=%09", "limit=1e-400",
    # Infinite values pass validation and knex ignores them (parseInt gives NaN).
    "limit=-Infinity", "offset=Infinity", "offset=-Infinity",
    # knex's parseInt(String(n)): from 1e21 on only the first digit counts.
    "limit=1e21", "offset=1e21", "limit=1e308", "limit=999999999999999999999",
    "limit=9007199254740993", "offset=9007199254740993", "limit=9223372036854774784",
    # Beyond a 64-bit integer the database refuses the query.
    "limit=1e20", "offset=1e20", "limit=9223372036854775807",
    # What the validator refuses, and in which order it looks.
    "offset=1.5", "offset=-1", "limit=NaN", "limit=1_0", "limit=0x", "limit=1e", "limit=%00",
    "limit=1%00", "limit=%FF", "offset=%FF", "offset=1&offset=2", "limit=1&limit=", "limit",
    "limit=1=2", "limit=1;offset=1", "foo=1", "limit=1&Limit=2", "foo=1&limit=", "limit=&foo=1",
    "offset=abc&limit=abc", "offset=-1&limit=abc", "order=foo&limit=abc", "status=", "createdBy=",
    "order=", "&&limit=1", "%6Cimit=1",
    # qs's decoding: '+' is a space, an empty key is dropped, and what
    # decodeURIComponent refuses stays as written.
    "limit=%2B1", "limit=1+", "=1", "limit=1&=2", "limit=%ZZ", "limit=1%", "limit=%", "%ZZ=1",
    "status=%FF", "createdBy=%ED%A0%80",
    # 0x with more digits than 64 bits is still a number.
    "limit=0x7ffffffffffffc00", "limit=0x10000000000000000", "limit=0x1_0", "limit=0x-1",
    # qs's brackets: a[]= and a[0]= are elements of the array a, anything
    # else an object; brackets on limit and offset make them arrays.
    "createdBy[]=user:development/guest", "createdBy[0]=user:development/guest&limit=1",
    "order[]=desc:created_at", "order[1]=asc:created_at&order[0]=desc:created_at&limit=2",
    "status[]=cancelled", "status[]=cancelled&status=cancelled&order[]=asc:created_at",
    "limit[]=1", "offset[0]=1", "limit=1&limit[]=2", "status[x]=completed", "createdBy[a][b]=x",
    "order=asc:created_at&order[x]=1", "status[=open", "foo[]=1", "status]=open",
]


def request(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body and json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


status, out = request("GET", base)
if status != 200 or json.loads(out)["totalTasks"] != 0:
    sys.exit("the oracle already holds tasks; restart it: %d %s" % (status, out[:200]))
ids = []
for name in ["aa", "bb", "cc"]:
    status, out = request("POST", base, {"templateRef": "template:default/example-template",
                                         "values": {"name": name}})
    if status != 201:
        sys.exit("create: %d %s" % (status, out))
    ids.append(json.loads(out)["id"])
    time.sleep(1.1)

cases = []
for q in QUERIES:
    status, out = request("GET", base + "?" + q)
    case = {"query": q, "status": status}
    doc = json.loads(out)
    if "tasks" in doc:
        case["tasks"] = [ids.index(t["id"]) for t in doc["tasks"]]
        case["totalTasks"] = doc["totalTasks"]
    else:
        case["body"] = out.decode()
    cases.append(case)
json.dump(cases, sys.stdout, indent=1, ensure_ascii=True)
print()
