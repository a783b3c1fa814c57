"""Reads an HCL file with python-hcl2 and prints its top-level blocks as JSON:
[{"ident", "labels", "attrs"}], strings unquoted and unescaped, references
as written, nested blocks' attributes as "block.key". Used by hcl_parsers.rs."""
import json
import re
import sys

import hcl2


def unquote(s):
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        body = s[1:-1]
        # HCL escapes, then the escaped template markers.
        body = re.sub(r'\\(["\\nrt]|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})', lambda m: {
            '"': '"', '\\': '\\', 'n': '\n', 'r': '\r', 't': '\t'
        }.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), body)
        return body.replace('$${', '${').replace('%%{', '%{')
    if s.startswith('${') and s.endswith('}'):
        return s[2:-1]
    return s


def value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, float)):
        return str(v)
    return unquote(v)


def attrs(body, prefix=''):
    out = {}
    for k, v in body.items():
        if k == '__is_block__':
            continue
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for nested in v:
                out.update(attrs(nested, prefix + k + '.'))
        else:
            out[prefix + k] = value(v)
    return out


def blocks(doc):
    out = []
    for ident, items in doc.items():
        if ident.startswith('__'):  # comments
            continue
        for item in items:
            labels = []
            body = item
            while len(body) == 1:
                (k, v), = body.items()
                if k.startswith('"') and isinstance(v, dict):
                    labels.append(unquote(k))
                    body = v
                else:
                    break
            out.append({'ident': ident, 'labels': labels, 'attrs': attrs(body)})
    return out


with open(sys.argv[1]) as f:
    print(json.dumps(blocks(hcl2.load(f))))
