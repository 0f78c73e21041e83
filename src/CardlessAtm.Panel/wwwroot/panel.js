// The panel's page: polls /api/state, reloads the screen image when it changes, posts keys, switches and phone actions.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
let lastScreen = -1;
let panes = 2;
let phones = [];
const mechanismLabels = {
  rejectTray: "reject tray",
  notesAtExit: "at the exit",
  retractBin: "retract bin",
  presentedTotal: "presented in all",
  notesInPath: "stuck in the transport",
};
const faultLabels = {
  "safe-door": "Safe door open",
  "cassette-removed": "Cassette removed, position",
  "jam": "Note jam on the next dispense (after its first note)",
  "double-note-reject": "Double-note reject, position",
  "dispenser-silent": "Dispenser silent (stops answering)",
  "notes-not-taken": "Customer does not take the notes",
  "host-link-down": "Host link down",
  "proxy-link-down": "Proxy link down",
};

async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body ?? {}) });
  let data = null;
  try { data = await response.json(); } catch { /* empty body */ }
  if (!response.ok) {
    throw new Error(data?.error ?? `${response.status} ${response.statusText}`);
  }
  return data;
}

// Key presses go out one after another: two fetches in flight may arrive in either order, and "40" must not become "04".
let keys = Promise.resolve();
function press(key) {
  keys = keys.then(() => post("/api/keys", { key })).catch(e => showError(e.message));
}

function showError(message) {
  $("#connection").textContent = message;
}

function buildFaults(state) {
  const root = $("#faults");
  if (root.childElementCount > 0) return;
  for (const fault of state.faults) {
    const row = document.createElement("div");
    row.className = "fault" + (fault.available ? "" : " unavailable");
    row.title = fault.available ? `wired to ${fault.wiredTo}` : `not available: ${fault.unavailable}`;
    if (fault.positions) {
      row.append(`${faultLabels[fault.name] ?? fault.name}: `);
      const span = document.createElement("span");
      span.className = "positions";
      for (const position of state.positions) {
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.id = `fault-${fault.name}-${position}`;
        box.addEventListener("change", () => post("/api/faults", { name: fault.name, on: box.checked, position }).catch(e => showError(e.message)));
        label.append(box, ` ${position}`);
        span.append(label);
      }
      row.append(span);
    } else {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = `fault-${fault.name}`;
      box.disabled = !fault.available;
      box.addEventListener("change", () => post("/api/faults", { name: fault.name, on: box.checked }).catch(e => showError(e.message)));
      // A switch that is per cassette on one rig and not on another (the firmware's double note is per pick) drops ", position".
      label.append(box, " " + (faultLabels[fault.name] ?? fault.name).replace(/, position$/, "") + (fault.available ? "" : ` (not available: ${fault.unavailable})`));
      row.append(label);
    }
    root.append(row);
  }
}

function buildPane(number) {
  const node = $("#pane-template").content.firstElementChild.cloneNode(true);
  node.id = `pane-${number}`;
  $(".number", node).textContent = number;
  const select = $(".phone", node);
  phones.forEach(p => {
    const option = document.createElement("option");
    option.value = p.index;
    option.textContent = p.name;
    select.append(option);
  });
  select.value = String(Math.min(number - 1, phones.length - 1));
  $(".scan", node).addEventListener("click", () => post(`/api/phones/${number}/scan`).catch(e => showPaneError(node, e.message)));
  $(".withdraw", node).addEventListener("click", () => post(`/api/phones/${number}/withdraw`, {
    phone: Number(select.value),
    account: $(".account", node).value,
    pin: $(".pin", node).value,
  }).catch(e => showPaneError(node, e.message)));
  $("#panes").append(node);
}

function showPaneError(node, message) {
  $(".message", node).textContent = message;
  $(".status", node).textContent = "error";
  $(".status", node).className = "status refused";
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  row.append(td);
}

function render(state) {
  $("#atm-id").textContent = state.terminal.atmId;
  $("#terminal-state").textContent = state.terminal.state + (state.terminal.outOfServiceReason ? ` (${state.terminal.outOfServiceReason})` : "");
  $("#links").textContent = `host ${state.terminal.hostReady ? "ready" : "DOWN"}, proxy ${state.terminal.proxyConnected ? "connected" : "DOWN"}, reversals waiting ${state.terminal.reversalsWaiting}, stuck ${state.terminal.reversalsStuck}`;
  if (state.screen.version !== lastScreen) {
    lastScreen = state.screen.version;
    $("#screen").src = `/api/screen.png?v=${state.screen.version}`;
  }
  $("#screen-text").textContent = [state.screen.title ?? "(dark)", ...state.screen.lines, state.screen.hasQr ? "[QR code]" : null, state.screen.secondsLeft != null ? `Time left: ${state.screen.secondsLeft} s` : null].filter(x => x != null).join("\n");

  const verdict = $("#verdict");
  const pending = state.verdict.dispenserNotReadYet && state.verdict.reasons.length === 1;
  verdict.textContent = state.verdict.ready ? `Ready: can dispense ${state.verdict.probe}`
    : pending ? `Dispenser not read yet: the flow reads it before its fault check for ${state.verdict.probe}` : `Not ready for ${state.verdict.probe}`;
  verdict.className = state.verdict.ready ? "ready" : pending ? "pending" : "refused";
  const reasons = $("#verdict-reasons");
  reasons.replaceChildren(...state.verdict.reasons.map(r => { const li = document.createElement("li"); li.textContent = `${r.code}: ${r.text}`; return li; }));

  buildFaults(state);
  for (const fault of state.faults) {
    if (fault.positions) {
      for (const position of state.positions) {
        const box = document.getElementById(`fault-${fault.name}-${position}`);
        if (box && document.activeElement !== box) box.checked = fault.positions.includes(position);
      }
    } else {
      const box = document.getElementById(`fault-${fault.name}`);
      if (box && document.activeElement !== box) box.checked = fault.on;
    }
  }

  $("#cash-units tbody").replaceChildren(...state.cashUnits.map(u => {
    const tr = document.createElement("tr");
    tr.id = `unit-${u.id}`;
    [u.id + (u.present ? "" : " (removed)"), u.denomination, u.count, u.presented, u.rejected, u.unknown, u.retracted, u.status].forEach(v => cell(tr, String(v)));
    return tr;
  }));
  const d = state.dispenser;
  const mechanism = Object.entries(d.mechanism).map(([name, count]) => `${mechanismLabels[name] ?? name} ${count}`).join(", ");
  $("#dispenser").textContent = `Dispenser ${d.device}${d.lastFault ? ` (${d.lastFault})` : ""}; ${mechanism}`;
  $("#take-notes").hidden = state.unavailable.takeNotes != null;
  $("#take-notes-unavailable").hidden = state.unavailable.takeNotes == null;
  $("#take-notes-unavailable").textContent = `Not available: ${state.unavailable.takeNotes ?? ""}`;
  $("#touch-unavailable").hidden = state.unavailable.touch == null;
  $("#touch-unavailable").textContent = `Touch zones not available: ${state.unavailable.touch ?? ""}`;

  $("#saf tbody").replaceChildren(...state.saf.map(r => {
    const tr = document.createElement("tr");
    tr.id = `saf-${r.id}`;
    tr.className = r.stuck ? "stuck" : "";
    [r.id, r.amount, r.dispensed, `${r.reasonCode} (${r.reason})`, r.stuck ? `STUCK (${r.status})` : r.status, String(r.attempts), r.lastResponse ?? "–",
      r.stuck && r.status === "NeedsOperator" ? "after a retry" : (r.nextAttempt ?? "now")].forEach(v => cell(tr, v));
    const td = document.createElement("td");
    if (r.stuck) {
      const button = document.createElement("button");
      button.className = "retry";
      button.textContent = "Retry";
      button.addEventListener("click", () => post("/api/saf/retry", { id: r.id }).catch(e => showError(e.message)));
      td.append(button);
    }
    tr.append(td);
    return tr;
  }));
  $("#saf-summary").textContent = state.saf.length === 0 ? "Queue empty: every reversal acknowledged by the host."
    : `${state.saf.length} reversal(s) waiting, ${state.saf.filter(r => r.stuck).length} stuck.`;

  $("#mode").textContent = `(${state.mode}, ${state.rig})`;
  $("#ledger-unavailable").hidden = state.available.ledger;
  $("#ledger").hidden = !state.available.ledger;
  $("#ledger-totals").hidden = !state.available.ledger;
  $("#phones-unavailable").hidden = state.available.phones;
  $("#add-pane").hidden = !state.available.phones;
  if (state.ledger) renderLedger(state.ledger);
  if (state.available.phones) renderPanes(state);

  $("#journal").textContent = state.journal.join("\n");
  $("#connection").textContent = "";
}

function renderLedger(ledger) {
  $("#ledger tbody").replaceChildren(...ledger.accounts.map(a => {
    const tr = document.createElement("tr");
    tr.id = `account-${a.row}`;
    [a.account, a.holder, a.balance ?? "?"].forEach(v => cell(tr, v));
    return tr;
  }));
  $("#ledger-totals").textContent = `Approved withdrawals ${ledger.approvedWithdrawals}, reversals ${ledger.reversals}; ledger ${ledger.balances ? "balances" : "DOES NOT BALANCE"}`;
}

function renderPanes(state) {
  if (phones.length === 0) {
    phones = state.phones;
    for (let i = 1; i <= panes; i++) buildPane(i);
  }
  for (const pane of state.panes) {
    const node = document.getElementById(`pane-${pane.number}`);
    if (!node) continue;
    $(".atm", node).textContent = pane.atmId ?? "–";
    $(".amount", node).textContent = pane.amount ?? "–";
    const status = $(".status", node);
    status.textContent = pane.status + (pane.outcome?.responseCode ? ` (${pane.outcome.responseCode}${pane.outcome.responseText ? " " + pane.outcome.responseText : ""})` : "");
    status.className = `status ${pane.status}`;
    $(".message", node).textContent = pane.message;
  }
}

async function poll() {
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    if (response.ok) {
      render(await response.json());
    } else {
      showError(`state: ${response.status}`);
    }
  } catch (e) {
    showError(`panel unreachable: ${e.message}`);
  }
  setTimeout(poll, 250);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#keypad button").forEach(b => b.addEventListener("click", () => press(b.dataset.key)));
  $("#take-notes").addEventListener("click", () => post("/api/take-notes").catch(e => showError(e.message)));
  $("#add-pane").addEventListener("click", () => {
    if (panes < 4 && phones.length > 0) buildPane(++panes);
  });
  document.addEventListener("keydown", event => {
    if (event.target.closest("input, select, textarea")) return;
    const key = /^[0-9]$/.test(event.key) ? event.key
      : event.key === "Enter" ? "enter" : event.key === "Escape" ? "cancel" : event.key === "Backspace" ? "clear" : null;
    if (key) {
      event.preventDefault();
      press(key);
    }
  });
  poll();
});
