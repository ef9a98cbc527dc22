#cloud-boothook
#!/usr/bin/python3
# kisgen secrets stub ({{.Mode}} mode). This node's real user-data holds private keys, so
# it is not in the EC2 user-data (which anyone allowed ec2:DescribeInstanceAttribute, and
# anything reaching the metadata service, can read). This boothook fetches it once with
# the instance role from {{.Where}}, writes it root-only to the cloud-init
# configuration directory (cloud-init re-reads it for the modules that run after
# boothooks), then deletes it at the source. Standard library only: python3 is there
# wherever cloud-init is.
import base64
import datetime
import gzip
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.parse
import urllib.request

CONF = json.loads({{.Conf}})
SSM_DELETE_BATCH = 10


def log(msg):
    print("kisgen-secrets: " + msg, file=sys.stderr, flush=True)


def http(method, url, headers=None, body=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=20) as resp:
        return resp.read()


def credentials():
    token = http("PUT", CONF["imds"] + "/latest/api/token",
                 {"X-aws-ec2-metadata-token-ttl-seconds": "300"}).decode()
    hdr = {"X-aws-ec2-metadata-token": token}
    base = CONF["imds"] + "/latest/meta-data/iam/security-credentials/"
    roles = http("GET", base, hdr).decode().split()
    if not roles:
        raise RuntimeError("the instance has no role: launch it with the instance profile the plan names")
    return json.loads(http("GET", base + roles[0], hdr))


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def aws(creds, method, url, service, body=b"", headers=None):
    """One request signed with AWS Signature Version 4."""
    u = urllib.parse.urlsplit(url)
    amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload = hashlib.sha256(body).hexdigest()
    hdr = {"host": u.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload,
           "x-amz-security-token": creds["Token"]}
    if body:
        hdr["content-length"] = str(len(body))
    for k, v in (headers or {}).items():
        hdr[k.lower()] = v
    names = sorted(hdr)
    canonical = "\n".join([
        method,
        urllib.parse.quote(u.path or "/", safe="/-_.~"),
        u.query,
        "".join(k + ":" + " ".join(hdr[k].split()) + "\n" for k in names),
        ";".join(names),
        payload,
    ])
    scope = "/".join([day, CONF["region"], service, "aws4_request"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + creds["SecretAccessKey"]).encode()
    for part in (day, CONF["region"], service, "aws4_request"):
        key = hmac256(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    hdr["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        creds["AccessKeyId"], scope, ";".join(names), signature)
    del hdr["host"]  # urllib sends the same Host, from the URL
    return http(method, url, hdr, body or None)


def ssm(creds, action, params):
    body = json.dumps(params).encode()
    return json.loads(aws(creds, "POST", CONF["ssm"], "ssm", body, {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "AmazonSSM." + action,
    }))


def fetch(creds):
    if CONF["mode"] == "s3":
        data = aws(creds, "GET", CONF["object"], "s3")
    else:
        chunks = [ssm(creds, "GetParameter", {"Name": n, "WithDecryption": True})["Parameter"]["Value"]
                  for n in CONF["parameters"]]
        data = base64.b64decode("".join(chunks))
    return gzip.decompress(data)


def delete(creds):
    if CONF["mode"] == "s3":
        aws(creds, "DELETE", CONF["object"], "s3")
    else:
        names = CONF["parameters"]
        for i in range(0, len(names), SSM_DELETE_BATCH):  # DeleteParameters takes at most 10 names
            ssm(creds, "DeleteParameters", {"Names": names[i:i + SSM_DELETE_BATCH]})


def retry(what, fn, deadline):
    delay = 1
    while True:
        try:
            return fn()
        except Exception as err:  # network not up yet, role not propagated yet, ...
            if time.monotonic() > deadline:
                raise RuntimeError("%s: %s" % (what, err))
            log("%s failed, retrying in %ds: %s" % (what, delay, err))
            time.sleep(delay)
            delay = min(delay * 2, 30)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def main():
    out, done = CONF["out"], CONF["out"] + ".deleted"
    if os.path.exists(out) and os.path.exists(done):
        return 0  # boothooks run at every boot: this one's work is done
    deadline = time.monotonic() + CONF["timeout"]
    try:
        if not os.path.exists(out):
            data = retry("fetch", lambda: fetch(retry("credentials", credentials, deadline)), deadline)
            write(out, data)
            log("user-data fetched from %s" % CONF["where"])
        retry("delete", lambda: delete(retry("credentials", credentials, deadline)), deadline)
        write(done, b"")
        log("deleted %s" % CONF["where"])
    except Exception as err:
        log(str(err))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
