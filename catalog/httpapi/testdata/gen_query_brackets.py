#!/usr/bin/env python3
"""Records how Backstage 1.55 (the oracle) reads catalog query strings whose
keys use qs's brackets (a[]=1, a[0]=1, a[b]=1), as Express's extended query
parser hands them to the OpenAPI validator.

Usage: gen_query_brackets.py ORACLE_URL > query_brackets.json

Each case is a path under /api/catalog. An error records the status and the
message. A success records "sameAs": the same request written without
brackets, after checking that the oracle answers both alike (status, and
the entity refs listed, or the facets), so that a replay can hold the two
forms to the same reading without the oracle's data.
"""
import json, sys, urllib.error, urllib.request

oracle = sys.argv[1].rstrip("/") + "/api/catalog"

# (bracketed path, the same request without brackets, or None for an error)
CASES = [
    ("/entities?filter[]=kind=component", "/entities?filter=kind=component"),
    ("/entities?filter%5B%5D=kind=component", "/entities?filter=kind=component"),
    ("/entities?filter[]=kind=component&filter[]=kind=api", "/entities?filter=kind=component&filter=kind=api"),
    ("/entities?filter[0]=kind=component&filter[1]=kind=api", "/entities?filter=kind=component&filter=kind=api"),
    ("/entities?filter[1]=kind=api&filter[0]=kind=component", "/entities?filter=kind=component&filter=kind=api"),
    ("/entities?filter[5]=kind=component", "/entities?filter=kind=component"),
    ("/entities?filter[25]=kind=component", "/entities?filter=kind=component"),
    ("/entities?filter[]=kind=component&filter=kind=api", "/entities?filter=kind=component&filter=kind=api"),
    ("/entities?filter[]=", "/entities"),
    ("/entities?filter[]", "/entities"),
    ("/entities?fields[]=metadata.name&fields[]=kind&limit=2", "/entities?fields=metadata.name&fields=kind&limit=2"),
    ("/entities?fields[0]=metadata.name&limit=1", "/entities?fields=metadata.name&limit=1"),
    ("/entities/by-query?filter[]=kind=component&limit=1&fields=kind", "/entities/by-query?filter=kind=component&limit=1&fields=kind"),
    ("/entities/by-query?orderField[1]=kind,asc&orderField[0]=metadata.name,desc&limit=3&fields=kind,metadata.name",
     "/entities/by-query?orderField=metadata.name,desc&orderField=kind,asc&limit=3&fields=kind,metadata.name"),
    ("/entities/by-query?fullTextFilterFields[]=metadata.name&fullTextFilterTerm=bill&fields=metadata.name",
     "/entities/by-query?fullTextFilterFields=metadata.name&fullTextFilterTerm=bill&fields=metadata.name"),
    ("/entity-facets?facet[]=kind", "/entity-facets?facet=kind"),
    ("/entity-facets?facet[0]=kind&facet[1]=spec.type", "/entity-facets?facet=kind&facet=spec.type"),
    ("/entities?[filter]=kind=api", "/entities?filter=kind=api"),
    ("/entities?filter[999]=kind=api", "/entities?filter=kind=api"),
    # qs reads the first 1,000 parameters only.
    ("/entities?" + "fields=kind&" * 1000 + "foo=1", "/entities?fields=kind"),
    ("/entities?" + "&" * 1000 + "foo=1", "/entities"),
    ("/entities?[filter][]=kind=api&filter[]=kind=component", "/entities?filter=kind=api&filter=kind=component"),
    # Objects, and brackets on parameters that are not arrays.
    ("/entities?filter[kind]=component", None),
    ("/entities?filter[a][b]=c", None),
    ("/entities?filter[][x]=1", None),
    ("/entities?filter[=x", None),
    ("/entities?filter=kind=api&filter[x]=1", None),
    ("/entities?filter[0]=a&filter[0]=b", None),
    ("/entities?filter]=x", None),
    ("/entities?a[]=1", None),
    ("/entities?a[b]=1&limit[]=1", None),
    ("/entities?limit[]=1", None),
    ("/entities?limit[0]=1", None),
    ("/entities?offset[]=1", None),
    ("/entities?after[]=abc", None),
    ("/entities?limit=1&limit[]=2", None),
    ("/entities/by-query?cursor[]=abc", None),
    ("/entities/by-query?fullTextFilterTerm[]=billing", None),
    ("/entity-facets?facet[kind]=1", None),
    ("/entities?[]=x", None),
    ("/entities?filter[1000]=kind=api", None),
    ("/entities?filter[999]=kind=api&filter[1000]=kind=domain", None),
    ("/entities?" + "fields=kind&" * 999 + "foo=1", None),
    ("/entities?[limit]=x", None),
    ("/entities?filter[00]=kind=api", None),
    ("/entities?filter[]=kind=api&filter[x]=b", None),
]


def get(path):
    try:
        with urllib.request.urlopen(oracle + path) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def summary(body):
    """What two alike answers share: listed refs (as a set where the
    order is the oracle's arbitrary one of equal keys) or the facets."""
    def ref(e):
        m = e.get("metadata", {})
        return "%s:%s/%s" % (e.get("kind"), m.get("namespace"), m.get("name"))
    if isinstance(body, list):
        return sorted(ref(e) for e in body)
    if "items" in body:
        return [body.get("totalItems"), sorted(ref(e) for e in body["items"])]
    return body


out = []
for path, plain in CASES:
    status, body = get(path)
    if plain is None:
        if status < 400:
            sys.exit("%s: expected an error, got %d" % (path, status))
        out.append({"path": path, "status": status, "message": body["error"]["message"]})
        continue
    pstatus, pbody = get(plain)
    if (status, summary(body)) != (pstatus, summary(pbody)):
        sys.exit("%s: answered unlike %s" % (path, plain))
    out.append({"path": path, "status": status, "sameAs": plain})
json.dump(out, sys.stdout, indent=1)
sys.stdout.write("\n")
