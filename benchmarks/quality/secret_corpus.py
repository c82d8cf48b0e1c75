"""A generated corpus of secrets in the forms they take in real files, and of code that talks
about secrets without holding one. Fixed seed: the same corpus on every machine.

Positives: provider keys (AWS access and secret keys, GitHub, GitLab, Slack tokens and
webhooks, Stripe, OpenAI, Anthropic, Google, SendGrid, npm, Hugging Face, JWT), passwords and
generic hex or base64 secrets, each written in one of many forms: ``.env`` and shell exports,
YAML, JSON, Python, JavaScript, Go, Terraform, TOML/INI, XML, PHP/Ruby hashes, CLI flags,
Authorization headers (Bearer, Basic) in curl and HTTP, connection strings with credentials,
Azure connection strings, private key blocks (PEM, OpenSSH, PGP, JSON-escaped), and bare keys
in prose. A positive is found when one secret span covers the whole value.

Negatives: environment lookups, templates, placeholders, documentation examples (AWS's
``...EXAMPLE`` keys), hashing and verification code, type hints, secret *names* and paths.
A negative is a false positive when any secret span is found in it.

>>> pos, neg = generate(50, seed=1), code_negatives(seed=1)
>>> len(pos), all(p.value in p.text for p in pos), len(neg) > 50
(50, True, True)
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass

__all__ = ["Secret", "code_negatives", "generate"]

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "/+"
URLSAFE = ALNUM + "_-"


@dataclass(frozen=True)
class Secret:
    text: str
    value: str
    provider: str
    form: str


def _s(rng: random.Random, alphabet: str, n: int) -> str:
    while True:
        out = "".join(rng.choice(alphabet) for _ in range(n))
        # real keys mix cases and digits; an all-letter draw is vanishingly rare in them
        if any(c.isdigit() for c in out) and any(c.isalpha() for c in out):
            return out


def _provider(rng: random.Random) -> tuple[str, str, str]:
    """(provider, value, a natural setting name)."""
    kind = rng.choice(
        ["aws_id", "aws_secret", "github", "github_pat", "gitlab", "slack", "slack_hook",
         "stripe", "openai", "openai_legacy", "anthropic", "google", "sendgrid", "npm", "hf",
         "jwt", "password", "password", "password", "hex", "b64"]
    )  # fmt: skip
    if kind == "aws_id":
        return kind, "AKIA" + _s(rng, string.ascii_uppercase + "234567", 16), "AWS_ACCESS_KEY_ID"
    if kind == "aws_secret":
        name = rng.choice(["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "SecretAccessKey"])
        return kind, _s(rng, B64, 40), name
    if kind == "github":
        return kind, rng.choice("pousr").join(["gh", "_"]) + _s(rng, ALNUM, 36), "GITHUB_TOKEN"
    if kind == "github_pat":
        return kind, "github_pat_" + _s(rng, ALNUM, 22) + "_" + _s(rng, ALNUM, 59), "GH_TOKEN"
    if kind == "gitlab":
        return kind, "glpat-" + _s(rng, URLSAFE, 20), "GITLAB_TOKEN"
    if kind == "slack":
        value = (f"xox{rng.choice('bpa')}-{rng.randrange(10**9, 10**12)}-"
                 f"{rng.randrange(10**11, 10**13)}-{_s(rng, ALNUM, 24)}")  # fmt: skip
        return kind, value, "SLACK_BOT_TOKEN"
    if kind == "slack_hook":
        caps = string.ascii_uppercase + string.digits
        value = (f"https://hooks.slack.com/services/T{_s(rng, caps, 8)}"
                 f"/B{_s(rng, caps, 10)}/{_s(rng, ALNUM, 24)}")  # fmt: skip
        return kind, value, "SLACK_WEBHOOK_URL"
    if kind == "stripe":
        value = f"{rng.choice(['sk', 'rk'])}_{rng.choice(['live', 'test'])}_{_s(rng, ALNUM, 24)}"
        return kind, value, "STRIPE_SECRET_KEY"
    if kind == "openai":
        return kind, "sk-proj-" + _s(rng, URLSAFE, 48), "OPENAI_API_KEY"
    if kind == "openai_legacy":
        return kind, "sk-" + _s(rng, ALNUM, 48), "OPENAI_API_KEY"
    if kind == "anthropic":
        return kind, "sk-ant-api03-" + _s(rng, URLSAFE, 93) + "AA", "ANTHROPIC_API_KEY"
    if kind == "google":
        return kind, "AIza" + _s(rng, URLSAFE, 35), "GOOGLE_API_KEY"
    if kind == "sendgrid":
        return kind, f"SG.{_s(rng, URLSAFE, 22)}.{_s(rng, URLSAFE, 43)}", "SENDGRID_API_KEY"
    if kind == "npm":
        return kind, "npm_" + _s(rng, ALNUM, 36), "NPM_TOKEN"
    if kind == "hf":
        return kind, "hf_" + _s(rng, ALNUM, 34), "HF_TOKEN"
    if kind == "jwt":
        head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
        body = base64.urlsafe_b64encode(
            f'{{"sub":"{rng.randrange(10**6)}","exp":{rng.randrange(10**9, 2 * 10**9)}}}'.encode()
        ).decode().rstrip("=")  # fmt: skip
        return kind, f"{head}.{body}.{_s(rng, URLSAFE, 43)}", "ACCESS_TOKEN"
    if kind == "password":
        value = _s(rng, ALNUM + "!@#%^&*-_", rng.randrange(10, 25))
        name = rng.choice(["password", "DB_PASSWORD", "db_password", "dbPassword", "passwd",
                           "MYSQL_ROOT_PASSWORD", "admin_pwd", "smtp.password",
                           "redis-password", "PGPASSWORD"])  # fmt: skip
        return kind, value, name
    if kind == "hex":
        value = _s(rng, "0123456789abcdef", rng.choice([32, 40, 64]))
        name = rng.choice(["secret", "SECRET_KEY", "webhook_secret", "signing_secret",
                           "client_secret", "APP_SECRET", "api_key", "apiKey",
                           "token"])  # fmt: skip
        return kind, value, name
    value = _s(rng, B64, rng.choice([24, 32, 44])) + rng.choice(["", "=", "=="])
    name = rng.choice(["clientSecret", "CLIENT_SECRET", "auth_token", "x-api-key",
                       "encryption_key", "private_key", "credentials", "access_token"])  # fmt: skip
    return "b64", value, name


_FORMS = (
    "env", "export", "env_quoted", "yaml", "yaml_quoted", "json", "python", "js", "go",
    "terraform", "toml", "xml", "php", "cli", "prose",
)  # fmt: skip


def _assignment(rng: random.Random, form: str, name: str, value: str) -> str:
    lower = name.lower().replace("-", "_").replace(".", "_")
    camel = lower.split("_")[0] + "".join(w.title() for w in lower.split("_")[1:])
    if form == "env":
        return f"APP_ENV=production\n{name.upper().replace('.', '_').replace('-', '_')}={value}\n"
    if form == "export":
        return f"export {name.upper().replace('.', '_').replace('-', '_')}={value}"
    if form == "env_quoted":
        return f'{name.upper().replace(".", "_").replace("-", "_")}="{value}"'
    if form == "yaml":
        return f"service:\n  name: billing\n  {lower}: {value}\n  port: 8080"
    if form == "yaml_quoted":
        return f"  {name}: '{value}'"
    if form == "json":
        return f'{{"host": "db.internal", "{camel}": "{value}", "port": 5432}}'
    if form == "python":
        return f'{lower.upper()} = "{value}"  # TODO move to vault'
    if form == "js":
        return f"const {camel} = '{value}';"
    if form == "go":
        return f'\t{camel} := "{value}"'
    if form == "terraform":
        return f'resource "x" "y" {{\n  {lower} = "{value}"\n}}'
    if form == "toml":
        return f'[database]\n{lower} = "{value}"'
    if form == "xml":
        return f"<config><{camel}>{value}</{camel}></config>"
    if form == "php":
        return f"'{lower}' => '{value}',"
    if form == "cli":
        return f"myapp --{lower.replace('_', '-')}={value} --verbose"
    prefix = rng.choice(["The", "Our", "Use the"])
    return f"{prefix} {lower.replace('_', ' ')} is {value} for the staging box."


def generate(n: int, seed: int = 20261129) -> list[Secret]:
    """``n`` secrets, each in one form chosen at random (fixed ``seed``)."""
    rng = random.Random(seed)
    out: list[Secret] = []
    while len(out) < n:
        r = rng.random()
        if r < 0.08:
            out.append(_header(rng))
        elif r < 0.15:
            out.append(_connection(rng))
        elif r < 0.20:
            out.append(_private_key(rng))
        else:
            provider, value, name = _provider(rng)
            if provider in ("password", "hex", "b64"):
                form = rng.choice(_FORMS)
            else:  # provider formats are found on their own too: also bare, in prose or code
                form = rng.choice([*_FORMS, "bare", "bare", "url"])
            if form == "bare":
                text = rng.choice([
                    f"Use {value} for testing, it still has credit.",
                    f"key: {value}",
                    f"client = Client('{value}')",
                    f"Here you go:\n{value}\n",
                ])  # fmt: skip
            elif form == "url":
                text = f"curl 'https://api.example.net/v1/items?api_key={value}'"
            else:
                text = _assignment(rng, form, name, value)
            out.append(Secret(text, value, provider, form))
    return out


def _header(rng: random.Random) -> Secret:
    if rng.random() < 0.6:
        token = _s(rng, URLSAFE + ".", rng.randrange(24, 64))
        text = rng.choice([
            f"Authorization: Bearer {token}",
            f"curl -H 'Authorization: Bearer {token}' https://api.internal/v1/me",
            f'headers = {{"Authorization": "Bearer {token}"}}',
            f"authorization: bearer {token}",
        ])  # fmt: skip
        return Secret(text, token, "bearer", "header")
    user = rng.choice(["admin", "svc-billing", "deploy"])
    cred = base64.b64encode(f"{user}:{_s(rng, ALNUM, 14)}".encode()).decode()
    text = rng.choice([f"Authorization: Basic {cred}",
                       f'proxy_set_header Authorization "Basic {cred}";'])  # fmt: skip
    return Secret(text, cred, "basic", "header")


def _connection(rng: random.Random) -> Secret:
    pw = _s(rng, ALNUM + "!$%^*-_", rng.randrange(10, 22))
    scheme = rng.choice(["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp",
                         "mssql", "https"])  # fmt: skip
    user = rng.choice(["app", "billing", "orders_svc", "root", "admin"])
    host = rng.choice(["db.internal:5432/app", "cluster0.ab12c.mongodb.net/orders",
                       "cache:6379/0", "mq.prod:5672/%2f", "10.0.3.7:1433"])  # fmt: skip
    if rng.random() < 0.2:
        key = _s(rng, B64, 86) + "=="
        text = (f"DefaultEndpointsProtocol=https;AccountName=acme{rng.randrange(100)};"
                f"AccountKey={key};EndpointSuffix=core.windows.net")  # fmt: skip
        return Secret(text, key, "azure_storage", "connection")
    url = f"{scheme}://{user}:{pw}@{host}"
    text = rng.choice([f"DATABASE_URL={url}", f'url: "{url}"', f"connect('{url}')", url])
    return Secret(text, pw, "connection_string", "connection")


def _private_key(rng: random.Random) -> Secret:
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY",
                        "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])  # fmt: skip
    lines = [_s(rng, B64, 64) for _ in range(rng.randrange(3, 8))] + [_s(rng, B64, 20) + "=="]
    body = "\n".join(lines)
    block = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"
    if rng.random() < 0.3:
        escaped = block.replace("\n", "\\n")
        return Secret(f'{{"private_key": "{escaped}\\n"}}', escaped, "private_key", "json_pem")
    return Secret(f"key: |\n{block}\n", block, "private_key", "pem")


def code_negatives(seed: int = 20261129) -> list[str]:
    """Code, configs and prose that talk about secrets without containing one."""
    rng = random.Random(seed)
    names = ["password", "db_password", "DB_PASSWORD", "api_key", "API_KEY", "secret",
             "client_secret", "token", "auth_token", "AWS_SECRET_ACCESS_KEY", "apiKey",
             "SECRET_KEY", "GITHUB_TOKEN", "STRIPE_SECRET_KEY", "private_key"]  # fmt: skip
    templates = [
        '{n} = os.environ["{N}"]',
        '{n} = os.getenv("{N}")',
        "{n} = os.environ.get('{N}', '')",
        "const {n} = process.env.{N};",
        "{n}: ${{{N}}}",
        '{n}: "{{{{ .Values.db.{n} }}}}"',
        "{n}: {{{{ secrets.{N} }}}}",
        "{N}=${{{N}}}",
        "{N}=<your-{n}>",
        "{N}=your_{n}_here",
        '{n} = "<{N}>"',
        "{n}: YOUR_{N}",
        "{n} = changeme",
        '"{n}": "********"',
        "{n} = None",
        '{n} = ""',
        "{n} = settings.{N}",
        "{n} = config['auth']['{n}']",
        "{n} = request.headers.get('Authorization')",
        "{n} = getpass.getpass('{n}: ')",
        "if not {n}:\n    raise ValueError('{n} is required')",
        "def check_{n}({n}: str, hashed: bytes) -> bool:",
        "{n}: str = Field(..., description='The {n} to use')",
        "# set {N} in your environment before running",
        "{n}_hash = bcrypt.hashpw({n}.encode(), bcrypt.gensalt())",
        "{n} = secrets.token_urlsafe(32)",
        "{n} = vault.read('secret/data/prod/{n}')",
        "{n}_name = 'prod/db/{n}'",
        "export {N}=$(cat /run/secrets/{n})",
        "{n} = self.{n}",
        "{n}=None, timeout=30",
        "log.info('rotating {n} for %s', service)",
    ]
    out = [t.format(n=n, N=n.upper()) for t in templates for n in rng.sample(names, 4)]
    out += [
        'headers = {"Authorization": f"Bearer {token}"}',
        'curl -H "Authorization: Bearer $TOKEN" https://api.example.com',
        "send the token as `Authorization: Bearer <token>`",
        "The Authorization: Bearer header was dropped by the proxy.",
        "Authorization: Basic <base64(user:password)>",
        "DATABASE_URL=postgres://user:password@localhost:5432/app",
        "postgres://${PGUSER}:${PGPASSWORD}@db:5432/app",
        "mongodb+srv://orders_svc:<password>@cluster0.ab12c.mongodb.net/orders",
        "redis://localhost:6379/0",
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "STRIPE_API_KEY=sk_test_xxxxxxxxxxxxxxxxxxxxxxxx",
        "Keys look like sk-ant-... and must never be logged.",
        "The file starting with -----BEGIN OPENSSH PRIVATE KEY----- is the private key.",
        'password authentication failed for user "reporting"',
        "Reset your password at https://example.com/reset",
        "The token is expired; request a new one.",
        "jwt.decode(token, SECRET_KEY, algorithms=['HS256'])",
        "private_key = load_pem_private_key(data, password=None)",
        "user.set_password(new_password)",
        "db_password: ENC[AES256_GCM,data:8fK2m==,iv:Qx1==,tag:Zt9==,type:str]",
        "git commit -m 'rotate the api key and the webhook secret'",
        "commit 3f2a9c1d4e5b6a7f8c9d0e1f2a3b4c5d6e7f8a9b fixed the token refresh",
        "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "A JWT looks like xxxxx.yyyyy.zzzzz: header, payload, signature.",
        "token = jwt.encode({'sub': user}, SECRET_KEY)",
        "password_reset_token_ttl = 900",
        "max_token_length: 4096",
        "The API key is sent in the X-Api-Key header.",
        "<password>${DB_PASSWORD}</password>",
        "'password' => env('DB_PASSWORD'),",
        'password := os.Getenv("DB_PASSWORD")',
        "secret = base64.b64decode(encoded)",
        "credentials = service_account.Credentials.from_service_account_file(path)",
    ]
    return out
