"""The settings keys are written down three times: the key table of
lib/settings.c (what the program accepts), the KEYS section of
man/mailresponder-settings.5 (the reference) and
config/settings.sample.json (the commented sample). This test keeps them
from drifting apart:

- the man page documents exactly the keys of the code's table;
- the table as parsed here is the program's: config-check of a file that
  holds every parsed key reports no unknown key, and does report the two
  made-up keys planted beside them;
- the sample holds exactly the documented keys (less those listed in
  NOT_IN_SAMPLE, each with its reason) and loads without an unknown key;
- every key of the sample says, in the comment just above it, either
  "Required." or "Default: VALUE.", and VALUE is the man page's default:
  the same JSON value, or for a default that is a description (the host
  name, another key's value) the same words.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Results, BIN, ROOT

R = Results()
MAN = os.path.join(ROOT, "man", "mailresponder-settings.5")
SAMPLE = os.path.join(ROOT, "config", "settings.sample.json")
CODE = os.path.join(ROOT, "lib", "settings.c")

# Documented keys the sample leaves out on purpose: key -> why.
NOT_IN_SAMPLE = {}


# ---- the code's key table ----

def code_keys():
    """Dotted names of the leaf keys reachable from top_keys in
    lib/settings.c, with the names of the object keys apart."""
    src = open(CODE, encoding="utf-8").read()
    tables = {}
    for m in re.finditer(r"static const struct key (\w+)\[\] = \{(.*?)\n\};", src, re.S):
        tables[m.group(1)] = re.findall(r'\bK(?:_INT|_OBJ)?\(\s*"([^"]+)"\s*,\s*(\w+)',
                                        m.group(2))
    leaves, objects = set(), set()

    def walk(tab, prefix):
        for name, second in tables[tab]:
            full = prefix + name
            if second in tables:  # K_OBJ(name, sub_table)
                objects.add(full)
                walk(second, full + ".")
            else:
                leaves.add(full)

    walk("top_keys", "")
    return leaves, objects


# ---- the man page ----

def flatten(text):
    """mdoc words to plain words: macro names dropped, Ns joins."""
    text = text.replace("\\(dq", '"').replace("\\&", "")
    out = ""
    glue = False
    for w in text.split():
        if w == "Ns":
            glue = True
            continue
        if re.fullmatch(r"[A-Z][a-z]", w):  # Cm, Qq, Ar, Li, Pq ...
            continue
        out += ("" if glue or not out else " ") + w
        glue = False
    return out


def man_keys():
    """{dotted key: default} from the KEYS section. default is
    ("required",), ("json", value) or ("text", words)."""
    lines = open(MAN, encoding="utf-8").read().split("\n")
    start = lines.index(".Sh KEYS")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(".Sh "))
    keys, objects = {}, set()
    stack = []          # per open .Bl: the object key it belongs to, or None
    pending_obj = None  # an ".It Cm X Pq object" without a default: next .Bl is X's
    i = start
    while i < end:
        line = lines[i]
        if line.startswith(".Bl"):
            stack.append(pending_obj)
            pending_obj = None
        elif line.startswith(".El"):
            stack.pop()
        m = re.match(r"\.It Cm (\S+) Pq (.*)$", line)
        if m:
            prefix = ".".join(o for o in stack if o)
            name = (prefix + "." if prefix else "") + m.group(1)
            spec = m.group(2)
            if "; default " in spec:
                d = spec.split("; default ", 1)[1].strip()
                if d == "see below":  # the next literal block
                    j = lines.index(".Bd -literal -offset indent", i)
                    k = lines.index(".Ed", j)
                    keys[name] = ("json", json.loads(" ".join(lines[j + 1:k])))
                elif d.startswith("Qq "):  # a quoted string
                    keys[name] = ("json", flatten(d[3:]))
                else:
                    keys[name] = parse_default(flatten(d))
            elif spec.rstrip().endswith("required"):
                keys[name] = ("required",)
            elif spec.strip() == "object":
                objects.add(name)
                pending_obj = m.group(1)
            else:
                R.check("man page: %s has a default or says required" % name, False, line)
        i += 1
    return keys, objects


def parse_default(words):
    if words.startswith('"') and words.endswith('"'):
        return ("json", words[1:-1])
    try:
        return ("json", json.loads(words))
    except ValueError:
        pass
    if re.fullmatch(r"[^\s\"]+", words) and not re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)+", words):
        return ("json", words)  # a bare value such as a URL or a path
    return ("text", words)


# ---- the sample ----

def strip_comments(text):
    """JSON with // and /* */ comments (as json-c reads it) to JSON."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def leaves_of(obj, prefix=""):
    out = {}
    for k, v in obj.items():
        if isinstance(v, dict) and (prefix + k) in MAN_OBJECTS | CODE_OBJECTS:
            out.update(leaves_of(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def sample_comments():
    """{dotted key: the comment lines just above it} from the sample's
    layout: one key per line, objects opened with '"name": {'."""
    path, comment, out = [], [], {}
    for line in open(SAMPLE, encoding="utf-8"):
        s = line.strip()
        if s.startswith("//"):
            comment.append(s[2:].strip())
            continue
        m = re.match(r'"([^"]+)"\s*:\s*(\{?)', s)
        if m:
            name = ".".join(path + [m.group(1)])
            if m.group(2) and "}" not in s:
                path.append(m.group(1))
            else:
                out[name] = " ".join(comment)
        elif s.startswith("}") and path:
            path.pop()
        comment = []
    return out


def sample_default(comment):
    """("required",), ("json", value), ("text", words) or None."""
    if re.search(r"\bRequired\.", comment):
        return ("required",)
    m = re.search(r"\bDefault: (.*?)\.?$", comment)
    if not m:
        return None
    return parse_default(m.group(1).strip())


def norm(words):
    return " ".join(words.replace('"', "").lower().split())


CODE_LEAVES, CODE_OBJECTS = code_keys()
MAN_KEYS, MAN_OBJECTS = man_keys()
R.check("the code's table parses (%d keys, %d objects)" % (len(CODE_LEAVES), len(CODE_OBJECTS)),
        len(CODE_LEAVES) > 50 and {"dkim", "mysql", "metrics"} <= CODE_OBJECTS)
R.check("the man page's KEYS parse (%d keys)" % len(MAN_KEYS), len(MAN_KEYS) > 50)

# the man page documents exactly the code's keys
R.eq("keys in the code but not in mailresponder-settings(5)",
     sorted(CODE_LEAVES - set(MAN_KEYS)), [])
R.eq("keys in mailresponder-settings(5) but not in the code",
     sorted(set(MAN_KEYS) - CODE_LEAVES), [])

# the parsed table is the program's: config-check knows every key
tmp = tempfile.mkdtemp(prefix="mr-setdoc-")
probe = {}
for k in sorted(CODE_LEAVES) + ["zz_made_up", "dkim.zz_made_up"]:
    parts = k.split(".")
    o = probe
    for p in parts[:-1]:
        o = o.setdefault(p, {})
    o[parts[-1]] = [[]]  # a wrong type for every key: a problem, not an unknown key
path = os.path.join(tmp, "probe.json")
with open(path, "w") as f:
    json.dump(probe, f)
p = subprocess.run([BIN, "config-check", "-c", path], capture_output=True, text=True,
                   timeout=60)
unknown = sorted(re.findall(r"unknown key '([^']+)'", p.stdout + p.stderr))
R.eq("config-check knows every key of the parsed table (only the made-up ones are unknown)",
     unknown, ["dkim.zz_made_up", "zz_made_up"])
R.check("config-check reports the wrong types (one per key)",
        p.returncode == 1 and (p.stdout + p.stderr).count("\n") >= len(CODE_LEAVES),
        p.stdout + p.stderr)

# the sample: the documented keys, and it loads without an unknown key
with open(SAMPLE, encoding="utf-8") as f:
    sample = json.loads(strip_comments(f.read()))
SAMPLE_KEYS = leaves_of(sample)
R.eq("documented keys missing from settings.sample.json (NOT_IN_SAMPLE aside)",
     sorted(set(MAN_KEYS) - set(SAMPLE_KEYS) - set(NOT_IN_SAMPLE)), [])
R.eq("keys of settings.sample.json that the man page does not document",
     sorted(set(SAMPLE_KEYS) - set(MAN_KEYS)), [])
R.eq("NOT_IN_SAMPLE keys that are in the sample or not documented",
     sorted(k for k in NOT_IN_SAMPLE if k in SAMPLE_KEYS or k not in MAN_KEYS), [])
# (log_level made wrong, so that the settings do not load and config-check
# goes no further than reading them: no store, no S3, no instance metadata)
with open(SAMPLE, encoding="utf-8") as f:
    text = f.read()
R.check("the sample sets log_level", '"log_level": "info"' in text)
path = os.path.join(tmp, "sample.json")
with open(path, "w") as f:
    f.write(text.replace('"log_level": "info"', '"log_level": [[]]'))
p = subprocess.run([BIN, "config-check", "-c", path], capture_output=True, text=True,
                   timeout=60)
out = p.stdout + p.stderr
R.check("config-check of the sample names no unknown key (and the planted problem)",
        "unknown key" not in out and "log_level" in out and p.returncode == 1, out)

# the defaults the sample states are the man page's
comments = sample_comments()
R.eq("the sample's layout (one key per line) gives the same keys as its JSON",
     sorted(comments), sorted(SAMPLE_KEYS))
bad = []
for k in sorted(set(MAN_KEYS) & set(comments)):
    want, got = MAN_KEYS[k], sample_default(comments[k])
    if got is None:
        bad.append("%s: no 'Default: ...' or 'Required.' in its comment" % k)
    elif want[0] != got[0]:
        bad.append("%s: man page %r, sample %r" % (k, want, got))
    elif want[0] == "json" and want[1] != got[1]:
        bad.append("%s: man page default %r, sample says %r" % (k, want[1], got[1]))
    elif want[0] == "text" and norm(want[1]) != norm(got[1]):
        bad.append("%s: man page default %r, sample says %r" % (k, want[1], got[1]))
R.eq("every sample key states the man page's default", bad, [])

# a check that could not fail would prove nothing: a wrong default is found
k = "daily_limit"
R.check("a changed default is caught (%s)" % k,
        sample_default(comments[k].replace("Default: 3", "Default: 4")) != MAN_KEYS[k])

sys.exit(R.done())
