import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The operator dashboard at `GET /`: one self-contained HTML page (inline CSS, JS and SVG; nothing is fetched
/// from anywhere but this server).
///
/// The page itself needs no token. Its script asks for the management token once, keeps it in the tab's
/// `sessionStorage`, and calls the JSON routes with `Authorization: Bearer`. Every 5 seconds it reads
/// `/arvados/v1/dispatch/instances` and `/arvados/v1/dispatch/containers`, redraws the tables, and adds one
/// point to each chart. The charts' hour of history is kept by the page (in memory and in `sessionStorage`,
/// so a reload keeps it), not by the server: a page opened a minute ago shows a minute of history.
enum DashboardPage {
    /// The page; `notice`, when set, is shown in a warning banner at the top (plain text, escaped here).
    static func response(notice: String? = nil) -> Response {
        var html = Self.html
        if let notice {
            let escaped = notice.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(
                of: "<",
                with: "&lt;"
            )
            .replacingOccurrences(of: ">", with: "&gt;")
            let banner =
                "<p id=\"notice\" role=\"alert\" style=\"margin:0;padding:8px 16px;background:#b45309;"
                + "color:#fff;font-weight:600\">\(escaped)</p>\n"
            if let body = html.range(of: "<body>\n") { html.insert(contentsOf: banner, at: body.upperBound) }
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8",
                .cacheControl: "no-store",
                .contentSecurityPolicy:
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    + "img-src data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html))
        )
    }

    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>dispatch-cloud</title>
        <style>
        :root { --fg:#1d2430; --muted:#6a7485; --line:#dde2ea; --bg:#f6f8fb; --card:#fff; --accent:#2f6fde;
          --inuse:#2f9e58; --hold:#c7851a; --booting:#2f6fde; --unknown:#8a63d2; --idle:#9aa3b2; --bad:#c8372d; }
        * { box-sizing: border-box; }
        body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg);
          background:var(--bg); }
        header { display:flex; align-items:center; gap:16px; padding:10px 20px; background:#1d2430; color:#fff; }
        header h1 { font-size:17px; margin:0; font-weight:600; }
        header .spacer { flex:1; }
        header button { background:transparent; color:#cfd6e2; border:1px solid #4a5568; }
        #status { font-size:12px; color:#cfd6e2; }
        #status.error { color:#ffb4ab; }
        main { padding:16px 20px; display:grid; gap:16px; }
        .cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(160px,1fr)); gap:12px; }
        .card, section { background:var(--card); border:1px solid var(--line); border-radius:8px; }
        .card { padding:12px 14px; }
        .card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
        .card .value { font-size:24px; font-weight:600; margin-top:2px; }
        .card .sub { color:var(--muted); font-size:12px; margin-top:2px; }
        .card svg.days { width:100%; height:36px; display:block; margin-top:4px; }
        .card svg.days rect.used { fill:#3b82f6; }
        .card svg.days rect.overhead { fill:#f59e0b; }
        section { padding:12px 14px; overflow-x:auto; }
        section h2 { font-size:14px; margin:0 0 8px; }
        .charts { display:grid; grid-template-columns:repeat(auto-fit,minmax(320px,1fr)); gap:12px; }
        svg.chart { width:100%; height:140px; display:block; }
        svg.chart text { font-size:10px; fill:var(--muted); }
        .legend { display:flex; flex-wrap:wrap; gap:10px; font-size:12px; color:var(--muted); }
        .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; }
        table { border-collapse:collapse; width:100%; font-size:13px; }
        th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
        th { color:var(--muted); font-weight:500; font-size:12px; }
        td.status { white-space:normal; min-width:240px; color:var(--muted); }
        td.num { text-align:right; font-variant-numeric:tabular-nums; }
        .pill { display:inline-block; padding:1px 7px; border-radius:10px; font-size:12px; background:#eef1f6; }
        .pill.running, .pill.inuse { background:#e1f4e8; color:#1c6b3b; }
        .pill.booting, .pill.Locked { background:#e3ecfd; color:#1f4fa8; }
        .pill.hold { background:#fbefd9; color:#87570c; }
        .pill.drain, .pill.shutdown { background:#fde4e1; color:#8f2a22; }
        .pill.unknown { background:#eee6fb; color:#5a3b98; }
        button { font:inherit; font-size:12px; padding:2px 8px; border-radius:5px; border:1px solid var(--line);
          background:#fff; color:var(--fg); cursor:pointer; }
        button:hover { border-color:var(--accent); }
        button.kill { color:var(--bad); }
        button[disabled] { opacity:.4; cursor:default; }
        .empty { color:var(--muted); padding:8px; }
        #login { max-width:420px; margin:60px auto; background:var(--card); border:1px solid var(--line);
          border-radius:8px; padding:20px; }
        #login input { width:100%; padding:7px; font:inherit; margin:8px 0; border:1px solid var(--line);
          border-radius:5px; }
        #login p.error { color:var(--bad); }
        [hidden] { display:none !important; }
        #quarantine-badge { background:#fde4e1; color:#8f2a22; font-weight:600; }
        #timeline .whatif { margin:6px 0 10px; }
        #timeline .whatif b { color:var(--fg); }
        #timeline td.reason { white-space:normal; min-width:260px; }
        #timeline td.figures { white-space:normal; color:var(--muted); font-size:12px; }
        </style>
        </head>
        <body>
        <header>
          <h1>dispatch-cloud</h1>
          <span id="status">not connected</span>
          <span class="spacer"></span>
          <span id="quarantine-badge" class="pill" hidden></span>
          <button id="logout" type="button" hidden>Forget token</button>
        </header>
        <form id="login" hidden>
          <h2>Management token</h2>
          <p>This page calls the dispatcher's management API, which needs the cluster's
          <code>ManagementToken</code>. It is kept in this tab's session storage only.</p>
          <input id="token" type="password" autocomplete="off" placeholder="ManagementToken" required>
          <p id="login-error" class="error" hidden></p>
          <button type="submit">Connect</button>
        </form>
        <main id="dashboard" hidden>
          <div class="cards">
            <div class="card"><div class="label">Instances</div><div class="value" id="card-instances">–</div></div>
            <div class="card"><div class="label">Containers running</div>
              <div class="value" id="card-running">–</div></div>
            <div class="card"><div class="label">Queue depth</div><div class="value" id="card-queue">–</div></div>
            <div class="card"><div class="label">Hourly spend</div><div class="value" id="card-spend">–</div>
              <div class="sub" id="card-overhead" hidden></div>
              <svg class="days" id="chart-spend-days" viewBox="0 0 140 36" preserveAspectRatio="none" hidden></svg></div>
          </div>
          <div class="charts">
            <section><h2>Instances by category (last hour)</h2><svg class="chart" id="chart-instances"></svg>
              <div class="legend" id="legend-instances"></div></section>
            <section><h2>Containers running (last hour)</h2><svg class="chart" id="chart-running"></svg></section>
            <section><h2>Queue depth (last hour)</h2><svg class="chart" id="chart-queue"></svg></section>
          </div>
          <section>
            <h2>Instances</h2>
            <table id="instances">
              <thead><tr><th>Instance</th><th>Address</th><th>Type</th><th>Provider type</th><th>State</th>
                <th>Idle behavior</th><th class="num">Price/h</th><th>Age</th><th>Last busy</th><th>Containers</th>
                <th>Actions</th></tr></thead>
              <tbody></tbody>
            </table>
          </section>
          <section>
            <h2>Queue</h2>
            <table id="queue">
              <thead><tr><th>Container</th><th>State</th><th class="num">Priority</th><th>Instance type</th>
                <th class="num">VCPUs</th><th class="num">RAM</th><th class="num">Cost</th><th>Waiting</th>
                <th>Scheduling status</th>
                <th>Actions</th></tr></thead>
              <tbody></tbody>
            </table>
          </section>
          <section id="timeline" hidden>
            <h2><span id="timeline-title"></span> <button id="timeline-close" type="button">close</button></h2>
            <div class="whatif" id="timeline-whatif"></div>
            <table id="timeline-events">
              <thead><tr><th>Time</th><th>Decision</th><th>Container</th><th>Instance</th><th>Type</th>
                <th>Reason</th><th>Figures</th></tr></thead>
              <tbody></tbody>
            </table>
          </section>
        </main>
        <script>
        "use strict";
        const REFRESH_MS = 5000, HISTORY_MS = 3600 * 1000;
        const CATEGORIES = ["inuse", "hold", "booting", "unknown", "idle"];
        const $ = (id) => document.getElementById(id);
        let history = [];
        try { history = JSON.parse(sessionStorage.getItem("dispatch-cloud.history") || "[]"); } catch (e) { history = []; }
        let timer = null;

        function token() { return sessionStorage.getItem("dispatch-cloud.token") || ""; }

        function showLogin(message) {
          clearTimeout(timer);
          $("dashboard").hidden = true; $("logout").hidden = true; $("login").hidden = false;
          $("login-error").hidden = !message; $("login-error").textContent = message || "";
          $("status").textContent = "not connected"; $("status").className = "";
          $("token").focus();
        }

        function showDashboard() {
          $("login").hidden = true; $("dashboard").hidden = false; $("logout").hidden = false;
          refresh();
        }

        async function api(method, path, params) {
          const query = params ? "?" + new URLSearchParams(params).toString() : "";
          const response = await fetch(path + query, {
            method, headers: { "Authorization": "Bearer " + token() }, cache: "no-store" });
          if (response.status === 401 || response.status === 403) {
            const error = new Error(response.status === 401 ? "The token is missing." :
              "The token is wrong, or the dispatcher has no ManagementToken configured.");
            error.auth = true; throw error;
          }
          const text = await response.text();
          if (!response.ok) {
            let message = response.status + " " + response.statusText;
            try { message = JSON.parse(text).errors.join("; "); } catch (e) {}
            throw new Error(message);
          }
          return text ? JSON.parse(text) : null;
        }

        function el(tag, attributes, ...children) {
          const node = document.createElement(tag);
          for (const [name, value] of Object.entries(attributes || {})) {
            if (name === "className") node.className = value;
            else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
            else node.setAttribute(name, value);
          }
          for (const child of children) {
            node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
          }
          return node;
        }

        function age(timestamp) {
          if (!timestamp) return "–";
          const ms = Date.now() - Date.parse(timestamp);
          if (!isFinite(ms)) return "–";
          const s = Math.max(0, Math.round(ms / 1000));
          if (s < 60) return s + "s";
          if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
          return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
        }

        function bytes(n) {
          const units = ["B", "KiB", "MiB", "GiB", "TiB"];
          let i = 0; n = Number(n) || 0;
          while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
          return (i ? n.toFixed(1) : n) + " " + units[i];
        }

        function category(instance) {
          if ((instance.running_container_uuids || []).length) return "inuse";
          if (instance.idle_behavior === "hold") return "hold";
          if (instance.worker_state === "booting") return "booting";
          if (instance.worker_state === "unknown") return "unknown";
          return "idle";
        }

        async function act(button, method, path, params, confirmText) {
          if (confirmText) {
            const reason = window.prompt(confirmText, "");
            if (reason === null) return;
            params.reason = reason;
          }
          button.disabled = true;
          try {
            await api(method, path, params);
            $("status").textContent = "done: " + path.split("/").slice(-2).join(" ") + " " + Object.values(params)[0];
            $("status").className = "";
            await refresh();
          } catch (error) {
            $("status").textContent = "error: " + error.message; $("status").className = "error";
            if (error.auth) showLogin(error.message);
          } finally { button.disabled = false; }
        }

        function instanceRow(instance) {
          const id = instance.instance;
          const actions = el("td");
          for (const behavior of ["hold", "drain", "run"]) {
            actions.append(el("button", {
              type: "button", "data-action": behavior, "data-instance": id,
              onclick: (event) => act(event.target, "POST", "arvados/v1/dispatch/instances/" + behavior,
                { instance_id: id })
            }, behavior), " ");
          }
          actions.append(el("button", {
            type: "button", className: "kill", "data-action": "kill", "data-instance": id,
            onclick: (event) => act(event.target, "POST", "arvados/v1/dispatch/instances/kill", { instance_id: id },
              "Destroy " + id + " now, abandoning its containers? Reason:")
          }, "kill"));
          actions.append(" ", el("button", {
            type: "button", "data-action": "timeline", "data-instance": id,
            onclick: () => openTimeline({ instance_id: id }, "Instance " + id)
          }, "timeline"));
          if (!id) for (const button of actions.querySelectorAll("button")) button.disabled = true;
          const containers = (instance.running_container_uuids || []);
          return el("tr", { "data-instance": id || "", "data-state": instance.worker_state },
            el("td", {}, id || "(creating)"), el("td", {}, instance.address || "–"),
            el("td", {}, instance.arvados_instance_type), el("td", {}, instance.provider_instance_type),
            el("td", {}, el("span", { className: "pill " + instance.worker_state }, instance.worker_state)),
            el("td", { className: "behavior" },
              el("span", { className: "pill " + instance.idle_behavior }, instance.idle_behavior)),
            el("td", { className: "num" }, Number(instance.price).toFixed(3)),
            el("td", {}, age(instance.first_seen_at)), el("td", {}, age(instance.last_busy)),
            el("td", {}, containers.length ? containers.join(" ") : "–"), actions);
        }

        function queueRow(entry) {
          const c = entry.container || {};
          const type = (entry.instance_types || [])[0] || {};
          const resources = entry.instance_resources || {};
          const actions = el("td");
          if (c.state === "Locked" || c.state === "Running") {
            actions.append(el("button", {
              type: "button", className: "kill", "data-action": "kill", "data-container": c.uuid,
              onclick: (event) => act(event.target, "POST", "arvados/v1/dispatch/containers/kill",
                { container_uuid: c.uuid }, "Stop container " + c.uuid + "? Reason:")
            }, "kill"));
          }
          actions.append(" ", el("button", {
            type: "button", "data-action": "timeline", "data-container": c.uuid,
            onclick: () => openTimeline({ container_uuid: c.uuid }, "Container " + c.uuid)
          }, "timeline"));
          return el("tr", { "data-container": c.uuid, "data-state": c.state },
            el("td", {}, c.uuid), el("td", {}, el("span", { className: "pill " + c.state }, c.state)),
            el("td", { className: "num" }, c.priority), el("td", {}, type.ProviderType || "–"),
            el("td", { className: "num" }, resources.VCPUs), el("td", { className: "num" }, bytes(resources.RAM)),
            el("td", { className: "num cost" }, Number(c.cost) > 0 ? Number(c.cost).toFixed(4) : "–"),
            el("td", {}, age(entry.first_seen_at)),
            el("td", { className: "status" }, (entry.scheduling_status || "")
              + (entry.preemptions > 0 ? " (preempted " + entry.preemptions + "×)" : "")), actions);
        }

        async function openTimeline(params, title) {
          $("timeline").hidden = false;
          $("timeline-title").textContent = title;
          $("timeline-whatif").replaceChildren("loading…");
          try {
            const answer = await api("GET", "arvados/v1/dispatch/explain", params);
            const whatif = [];
            if (answer.waiting_because) whatif.push(el("div", {}, el("b", {}, "Waiting because: "), answer.waiting_because));
            if (answer.would_start_if) whatif.push(el("div", {}, el("b", {}, "Would start if: "), answer.would_start_if));
            $("timeline-whatif").replaceChildren(...whatif);
            const rows = (answer.events || []).map((e) => el("tr", { "data-kind": e.kind },
              el("td", {}, e.time), el("td", {}, el("span", { className: "pill" }, e.kind)),
              el("td", {}, e.container || "–"), el("td", {}, e.instance || "–"), el("td", {}, e.instance_type || "–"),
              el("td", { className: "reason" }, e.reason),
              el("td", { className: "figures" }, (e.figures || []).map((f) => f.name + "=" + f.value).join(", "))));
            fill("timeline-events", rows, "No decisions recorded.", 7);
          } catch (error) {
            $("timeline-whatif").replaceChildren("error: " + error.message);
            fill("timeline-events", [], "", 7);
            if (error.auth) showLogin(error.message);
          }
          $("timeline").scrollIntoView({ block: "nearest" });
        }
        $("timeline-close").addEventListener("click", () => { $("timeline").hidden = true; });

        function fill(table, rows, emptyText, columns) {
          const body = $(table).tBodies[0];
          body.replaceChildren(...rows);
          if (!rows.length) body.append(el("tr", {}, el("td", { colspan: columns, className: "empty" }, emptyText)));
        }

        function chart(id, series, colors) {
          const svg = $(id);
          const width = svg.clientWidth || 400, height = svg.clientHeight || 140, pad = 24, right = 30;
          const now = Date.now();
          const points = history.filter((p) => p.t >= now - HISTORY_MS);
          // The axis spans the history there is (at least 5 minutes), up to the hour.
          const span = Math.min(HISTORY_MS, Math.max(300 * 1000, points.length ? now - points[0].t : 0));
          const start = now - span;
          let max = 1;
          for (const point of points) for (const key of series) max = Math.max(max, point[key] || 0);
          const x = (t) => pad + (width - pad - right) * (t - start) / span;
          const y = (v) => height - 16 - (height - 26) * v / max;
          const ns = "http://www.w3.org/2000/svg";
          const node = (tag, attributes, text) => {
            const n = document.createElementNS(ns, tag);
            for (const [k, v] of Object.entries(attributes)) n.setAttribute(k, v);
            if (text != null) n.textContent = text;
            return n;
          };
          const children = [
            node("line", { x1: pad, x2: width - right, y1: y(0), y2: y(0), stroke: "#dde2ea" }),
            node("line", { x1: pad, x2: width - right, y1: y(max), y2: y(max), stroke: "#eef1f6" }),
            node("text", { x: 2, y: y(max) + 4 }, String(max)), node("text", { x: 2, y: y(0) + 4 }, "0"),
            node("text", { x: pad, y: height - 2 }, "-" + Math.round(span / 60000) + "m"),
            node("text", { x: width - right - 16, y: height - 2 }, "now"),
          ];
          series.forEach((key, index) => {
            if (!points.length) return;
            const coordinates = points.map((p) => x(p.t).toFixed(1) + "," + y(p[key] || 0).toFixed(1));
            children.push(node("polyline", {
              points: coordinates.join(" "), fill: "none", stroke: colors[index], "stroke-width": 1.8,
              "stroke-linejoin": "round", "data-series": key }));
            const last = points[points.length - 1];
            children.push(node("circle", { cx: x(last.t), cy: y(last[key] || 0), r: 2.5, fill: colors[index] }));
            if (series.length === 1) {
              children.push(node("text", { x: x(last.t) + 5, y: y(last[key] || 0) + 4 }, String(last[key] || 0)));
            }
          });
          svg.setAttribute("viewBox", "0 0 " + width + " " + height);
          svg.replaceChildren(...children);
        }

        function drawCharts() {
          const style = getComputedStyle(document.documentElement);
          const colors = CATEGORIES.map((c) => style.getPropertyValue("--" + c).trim());
          chart("chart-instances", CATEGORIES, colors);
          chart("chart-running", ["running"], [style.getPropertyValue("--inuse").trim()]);
          chart("chart-queue", ["queued"], [style.getPropertyValue("--accent").trim()]);
          $("legend-instances").replaceChildren(...CATEGORIES.map((c, i) =>
            el("span", {}, el("i", { style: "background:" + colors[i] }), c)));
        }

        // The spend card's day chart (the last 14 UTC days: used in blue, overhead in amber) and overhead share.
        function drawSpendDays(costs) {
          const svg = $("chart-spend-days"), note = $("card-overhead");
          const days = (costs && costs.days) || [];
          svg.hidden = note.hidden = !costs;
          if (!costs) return;
          note.textContent = "overhead " + (100 * (costs.overhead_share || 0)).toFixed(1) + "% of " +
            Number(costs.total || 0).toFixed(2) + " over " + days.length + " day" + (days.length === 1 ? "" : "s");
          svg.replaceChildren();
          const top = Math.max(...days.map((d) => d.cost), 1e-9), width = 140 / 14;
          days.slice(-14).forEach((d, i) => {
            const x = (14 - Math.min(days.length, 14) + i) * width, h = 36 * d.cost / top, o = 36 * d.overhead / top;
            for (const [cls, y, height] of [["used", 36 - h, h - o], ["overhead", 36 - o, o]]) {
              const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
              rect.setAttribute("class", cls); rect.setAttribute("x", x + 1); rect.setAttribute("width", width - 2);
              rect.setAttribute("y", y); rect.setAttribute("height", Math.max(0, height));
              const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
              title.textContent = d.day + ": " + d.cost.toFixed(2) + " (overhead " + d.overhead.toFixed(2) + ")";
              rect.appendChild(title); svg.appendChild(rect);
            }
          });
        }

        async function refresh() {
          clearTimeout(timer);
          try {
            const [instances, queue, quarantine, costs] = await Promise.all([
              api("GET", "arvados/v1/dispatch/instances"), api("GET", "arvados/v1/dispatch/containers"),
              api("GET", "arvados/v1/dispatch/quarantine"),
              api("GET", "arvados/v1/dispatch/costs").catch((e) => { if (e.auth) throw e; return null; })]);
            drawSpendDays(costs);
            const held = (quarantine && quarantine.items) || [];
            $("quarantine-badge").hidden = held.length === 0;
            $("quarantine-badge").textContent = "quarantined: " +
              held.map((q) => q.instance_type + " until " + new Date(q.until).toLocaleTimeString()).join(", ");
            const items = (instances && instances.items) || [], entries = (queue && queue.items) || [];
            fill("instances", items.map(instanceRow), "No instances.", 11);
            fill("queue", entries.map(queueRow), "The queue is empty.", 9);
            const running = items.reduce((n, i) => n + (i.running_container_uuids || []).length, 0);
            const queued = entries.filter((e) => e.container && (e.container.state === "Queued" ||
              e.container.state === "Locked")).length;
            const spend = items.reduce((sum, i) => sum + (Number(i.price) || 0), 0);
            $("card-instances").textContent = items.length;
            $("card-running").textContent = running;
            $("card-queue").textContent = queued;
            $("card-spend").textContent = spend.toFixed(2) + " /h";
            const point = { t: Date.now(), running, queued };
            for (const c of CATEGORIES) point[c] = 0;
            for (const i of items) point[category(i)]++;
            history.push(point);
            history = history.filter((p) => p.t >= Date.now() - HISTORY_MS);
            try { sessionStorage.setItem("dispatch-cloud.history", JSON.stringify(history)); } catch (e) {}
            drawCharts();
            $("status").textContent = "updated " + new Date().toLocaleTimeString();
            $("status").className = "";
            document.body.dataset.loaded = "true";
          } catch (error) {
            if (error.auth) { showLogin(error.message); return; }
            $("status").textContent = "error: " + error.message; $("status").className = "error";
          }
          timer = setTimeout(refresh, REFRESH_MS);
        }

        $("login").addEventListener("submit", (event) => {
          event.preventDefault();
          sessionStorage.setItem("dispatch-cloud.token", $("token").value.trim());
          $("token").value = "";
          showDashboard();
        });
        $("logout").addEventListener("click", () => {
          sessionStorage.removeItem("dispatch-cloud.token");
          showLogin("");
        });
        if (token()) showDashboard(); else showLogin("");
        </script>
        </body>
        </html>
        """#
}
