"""uploads.py - files/s and requests per file of `cp -r` into assets/ of a
large project (issue 23 item 2), against curl doing the same three calls
per file (GET /getUploadUrl, PUT of the bytes, POST /project/{id}/cloud).

Design: one local hub seeded with synthetic:A (A assets, 10,000 by default);
F small distinct JPEGs (about 1 KB) in a local folder. Each run, A/B
interleaved in the same process so both sides see the same machine load:
  angofs  a fresh mount (no cached listing: the first stat reads every page
          of the asset list, and that is counted) and `cp -r DIR/. assets/`;
          requests counted at the hub (every route, listing pages included);
  curl    one curl process per call, as a shell loop would: getUploadUrl,
          PUT to the returned URL, POST /cloud with uploadLocal "true" (the
          SDK's upload_files), for the same files under other names.
The project grows by 2F assets per run (both sides upload into it).
Reported: medians (min-max) of files/s, ratio angofs/curl (higher is better
for angofs), and angofs's requests per file by route. Everything started is
torn down at exit.
Run: bench/run.sh uploads [--files 1000] [--assets 10000] [--runs 3]

--labels: `cp` of one large NDJSON labels file (20,000 items, ~23 MB, as the
quick run of bench.py) into labels/ of a synthetic project against `curl`
POSTing the same items as one /import/labels body, the rows interleaved in
each round (cp, curl, [cp with --base-build, curl]) so every side sees the
same load. --base-build DIR adds a mount of another build (e.g. main before a
change) to the same rounds. Each cp must end "sent:". Reported: medians
(min-max) and the ratio cp / curl per build (lower is better; target <= 1.2).
"""
import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from PIL import Image

import benchlib as B
from harness import Hub, Mount


def jpegs(folder, n, prefix):
    os.makedirs(folder)
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (16, 16), (i % 256, (i // 256) % 256, 77)).save(buf, "JPEG")
        with open(os.path.join(folder, "%s%05d.jpg" % (prefix, i)), "wb") as f:
            f.write(buf.getvalue())


def curl_json(args):
    out = subprocess.run(["curl", "-s", "--fail"] + args, check=True, capture_output=True).stdout
    return json.loads(out) if out else None


def curl_upload(hub, pid, folder):
    """The three calls per file, one curl each; wall seconds."""
    api = hub.url + "/v2"
    key = ["-H", "apikey: " + hub.key]
    t0 = time.perf_counter()
    for name in sorted(os.listdir(folder)):
        up = curl_json(key + ["-G", api + "/getUploadUrl", "--data-urlencode", "name=" + name,
                              "--data-urlencode", "project=" + pid, "--data-urlencode",
                              "type=assets"])
        url = up["data"]["uploadUrl"] if "data" in up else up["uploadUrl"]
        subprocess.run(["curl", "-s", "--fail", "-T", os.path.join(folder, name), "-H",
                        "Content-Type: image/jpeg", url], check=True, stdout=subprocess.DEVNULL)
        body = {"assets": [{"data": url.split("?")[0], "externalId": name}],
                "uploadLocal": "true", "priority": 0}
        curl_json(key + ["-X", "POST", "-H", "Content-Type: application/json", "--data",
                         json.dumps(body), api + "/project/%s/cloud" % pid])
    return time.perf_counter() - t0


def med(xs):
    return "%.1f (%.1f-%.1f)" % (statistics.median(xs), min(xs), max(xs))


def labels_main(a):
    work = tempfile.mkdtemp(prefix="angofs-bench-labels-")
    hub = Hub(work, seeds=("synthetic:%d" % a.label_items,))
    builds = [("this build", a.build)] + ([("base build", a.base_build)] if a.base_build
                                          else [])
    rows = {name: [] for name, _ in builds}
    curl_rows = []
    mounts = []
    try:
        pname = "synthetic-%d" % a.label_items
        st, body = hub.api("GET", "/listProjects", query={"limit": "100"})
        pid = next(p["_id"] for p in body["data"]["projects"] if p["name"] == pname)
        src, req = B.write_labels(work, pid, a.label_items, a.label_mb << 20)
        for k, (name, build) in enumerate(builds):
            m = Mount(hub, work, name="m%d" % k, build=build, opts=("rate_limit=0",))
            mounts.append(m)
            os.listdir(os.path.join(m.path, pname, "labels"))
        for run in range(a.runs):
            for k, (name, build) in enumerate(builds):
                dst = os.path.join(mounts[k].path, pname, "labels", "bench-%d.ndjson" % run)
                t0 = time.perf_counter()
                subprocess.run(["cp", src, dst], check=True)
                rows[name].append(time.perf_counter() - t0)
                with open(dst + ".status") as f:
                    st = f.read()
                if not st.startswith("sent:"):
                    raise SystemExit("cp into labels/ was not sent: %s" % st[:400])
                t0 = time.perf_counter()
                out = subprocess.run(["curl", "-sf", "-X", "POST", "-H", "apikey: " + hub.key,
                                      "-H", "Content-Type: application/json",
                                      "--data-binary", "@" + req,
                                      hub.url + "/v2/import/labels"],
                                     check=True, capture_output=True).stdout
                curl_rows.append(time.perf_counter() - t0)
                if json.loads(out).get("status") != "success":
                    raise SystemExit("curl POST /import/labels failed: %s" % out[:400])
    finally:
        for m in mounts:
            m.stop()
        hub.stop()
    mb = os.path.getsize(src) / 1e6
    shutil.rmtree(work, ignore_errors=True)
    cb = statistics.median(curl_rows)
    print("| row | cp s, median (min-max) | curl s, median (min-max) | ratio cp/curl "
          "(target <= 1.2) |")
    print("|---|---|---|---|")
    for name, _ in builds:
        print("| cp of a %.0f MB labels file (%d items) into labels/, %s | %s | %s | %.2f |"
              % (mb, a.label_items, name, med(rows[name]), med(curl_rows),
                 statistics.median(rows[name]) / cb))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--assets", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build")
    ap.add_argument("--labels", action="store_true")
    ap.add_argument("--label-items", type=int, default=20000)
    ap.add_argument("--label-mb", type=int, default=20)
    ap.add_argument("--base-build")
    a = ap.parse_args()
    if a.build:
        os.environ["ANGOFS_BUILD"] = a.build
    if a.labels:
        return labels_main(a)
    work = tempfile.mkdtemp(prefix="angofs-bench-uploads-")
    hub = Hub(work, seeds=("synthetic:%d" % a.assets,))
    rows = {"a": [], "b": []}
    per_file, routes = [], {}
    try:
        st, body = hub.api("GET", "/listProjects", query={"limit": "100"})
        proj = next(p for p in body["data"]["projects"] if p["name"].startswith("synthetic"))
        pid, pname = proj["_id"], proj["name"]
        for run in range(a.runs):
            src_a = os.path.join(work, "a%d" % run)
            src_b = os.path.join(work, "b%d" % run)
            jpegs(src_a, a.files, "r%d_a_" % run)
            jpegs(src_b, a.files, "r%d_b_" % run)
            m = Mount(hub, work, name="m%d" % run, opts=("rate_limit=0",))
            try:
                dst = os.path.join(m.path, pname, "assets")
                hub.reset_stats()
                t0 = time.perf_counter()
                subprocess.run(["cp", "-r", src_a + "/.", dst + "/"], check=True)
                t = time.perf_counter() - t0
                stats = hub.stats()
                rows["a"].append(a.files / t)
                per_file.append(stats["total"] / a.files)
                routes = {k: v / a.files for k, v in stats["counts"].items()}
            finally:
                m.stop()
            rows["b"].append(a.files / curl_upload(hub, pid, src_b))
            shutil.rmtree(src_a)
            shutil.rmtree(src_b)
        st, body = hub.api("GET", "/project/%s/assets" % pid, query={"limit": "1"})
        total = body["data"]["total"]
        assert total == a.assets + 2 * a.files * a.runs, total
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)
    ra, rb = statistics.median(rows["a"]), statistics.median(rows["b"])
    print("| row | angofs files/s, median (min-max) | curl files/s, median (min-max) | ratio "
          "| angofs requests/file (target <= 4) |")
    print("|---|---|---|---|---|")
    print("| cp -r of %d small JPEGs into a %d-asset project (fresh mount) vs curl's 3 "
          "calls per file | %s | %s | %.2f | %s |"
          % (a.files, a.assets, med(rows["a"]), med(rows["b"]), ra / rb,
             "%.2f (max %.2f)" % (statistics.median(per_file), max(per_file))))
    print("\nangofs requests per file by route (last run): " +
          ", ".join("%s %.2f" % (k, v) for k, v in sorted(routes.items())))


if __name__ == "__main__":
    main()
