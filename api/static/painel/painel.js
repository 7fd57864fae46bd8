// The console's behaviour: live updates (EventSource) and the buttons (fetch through /painel/api/, with the
// CSRF token of the page). Plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const FINAL_STATES = new Set(["SUCCESS", "FAILURE", "REVOKED", "CANCELED"]);
const RUNNING_STATES = new Set(["QUEUED", "STARTED", "PROGRESS", "RETRY"]);

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

// POST to the JSON API through the console's path; resolves to {status, data}.
async function post(path, body) {
  const options = {method: "POST", credentials: "same-origin",
                   headers: {"X-CSRF-Token": csrfToken(), "Accept": "application/json"}};
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch("/painel/api" + path, options);
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return {status: response.status, data: data};
}

function explain(result) {
  const detail = result.data && result.data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
  return "HTTP " + result.status;
}

function badge(state) {
  const span = document.createElement("span");
  span.className = "estado estado-" + state.toLowerCase();
  span.textContent = state;
  return span;
}

function localTime(iso) {
  return iso ? new Date(iso).toLocaleString("pt-BR") : "";
}

// A stream that stops quietly when the server refuses it (no retry loop against a 404 or a 401).
function listen(url, onTransition, onEnd, onOpen) {
  const source = new EventSource(url);
  if (onOpen) source.addEventListener("open", onOpen);
  source.addEventListener("transition", (event) => onTransition(JSON.parse(event.data), source));
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED && onEnd) onEnd();
  };
  return source;
}

function setLive(text) {
  const live = document.getElementById("ao-vivo");
  if (live) live.textContent = text;
}

// One task: state, progress bar and timeline move live; the page reloads at the final state to show the result.
function taskPage(section) {
  const taskId = section.dataset.taskId;
  const timeline = document.getElementById("linha-do-tempo");
  // The stream starts with every transition so far: those the page was rendered with are skipped, so the bar
  // never steps back while the history is replayed.
  let shown = Number(section.dataset.events);
  if (!FINAL_STATES.has(section.dataset.state)) {
    listen(section.dataset.stream, (event, source) => {
      if (shown > 0) { shown -= 1; return; }
      const item = document.createElement("li");
      item.append(badge(event.state), " ", localTime(event.at));
      if (event.message) item.append(" " + event.message);
      timeline.append(item);
      document.getElementById("estado").replaceChildren(badge(event.state));
      document.getElementById("mensagem").textContent = event.message || "";
      const progress = event.state === "SUCCESS" ? 100 : event.progress;
      if (progress !== null && progress !== undefined) {
        document.getElementById("barra").style.width = progress + "%";
        document.getElementById("percentual").textContent = String(progress);
      }
      section.dataset.state = event.state;
      document.getElementById("cancelar").hidden = !RUNNING_STATES.has(event.state) ||
        document.body.dataset.canWrite !== "sim";
      if (FINAL_STATES.has(event.state)) {
        source.close();
        window.setTimeout(() => window.location.reload(), 500);
      }
    });
  }
  const answer = document.getElementById("resposta");
  document.getElementById("cancelar").addEventListener("click", async () => {
    const result = await post("/tarefa/" + encodeURIComponent(taskId) + "/cancelar");
    answer.textContent = result.status === 202 ? "Cancelamento pedido: " + result.data.state : explain(result);
    if (result.status === 202 && FINAL_STATES.has(result.data.state)) window.location.reload();
  });
  document.getElementById("reexecutar").addEventListener("click", async () => {
    const result = await post("/tarefa/" + encodeURIComponent(taskId) + "/reexecutar");
    if (result.status === 202) window.location.assign("/painel/tarefas/" + encodeURIComponent(result.data.task_id));
    else answer.textContent = explain(result);
  });
}

// The task list: rows change state live; new tasks appear on top of the first page.
function taskList(table) {
  const body = table.tBodies[0];
  listen(table.dataset.stream, (event) => {
    let row = body.querySelector('tr[data-task-id="' + CSS.escape(event.task_id) + '"]');
    if (!row && table.dataset.firstPage === "sim") {
      const empty = body.querySelector("tr.vazia");
      if (empty) empty.remove();
      row = document.createElement("tr");
      row.dataset.taskId = event.task_id;
      const cells = [localTime(event.at), event.name || "", event.queue || "—", "", "", "", ""];
      for (const text of cells) { const cell = document.createElement("td"); cell.textContent = text; row.append(cell); }
      row.cells[3].className = "c-estado";
      row.cells[4].className = "c-progresso";
      const link = document.createElement("a");
      link.href = "/painel/tarefas/" + encodeURIComponent(event.task_id);
      link.className = "id";
      link.textContent = event.task_id;
      row.cells[6].append(link);
      body.prepend(row);
    }
    if (!row) return;
    row.querySelector(".c-estado").replaceChildren(badge(event.state));
    if (event.progress !== null && event.progress !== undefined) {
      row.querySelector(".c-progresso").textContent = event.progress + " %";
    }
  }, () => setLive("sem atualização ao vivo"), () => setLive("atualiza ao vivo"));
}

// The overview: after changes arrive, fetch the page again and swap its content (no reload, at most every 5 s).
function overview(marker) {
  let pending = null;
  listen(marker.dataset.stream, () => {
    if (pending) return;
    pending = window.setTimeout(async () => {
      pending = null;
      const response = await fetch(window.location.href, {credentials: "same-origin"});
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("main");
      const stream = document.getElementById("ao-vivo").dataset.stream;
      document.querySelector("main").replaceChildren(...fresh.childNodes);
      document.getElementById("ao-vivo").dataset.stream = stream;
      setLive("atualizado " + new Date().toLocaleTimeString("pt-BR"));
    }, 5000);
  }, () => setLive("sem atualização ao vivo"), () => setLive("atualiza ao vivo"));
}

function deadLetters() {
  for (const button of document.querySelectorAll("button.reenviar")) {
    button.addEventListener("click", async () => {
      const letter = button.closest("article.carta");
      const answer = letter.querySelector(".resposta");
      const edited = button.dataset.mode === "editado";
      const result = await post("/dead-letters/" + letter.dataset.id + "/replay",
                                edited ? {body: letter.querySelector("textarea.corpo").value} : undefined);
      answer.replaceChildren();
      if (result.status === 202) {
        const link = document.createElement("a");
        link.href = "/painel/tarefas/" + encodeURIComponent(result.data.task_id);
        link.className = "tarefa-reenviada";
        link.textContent = result.data.task_id;
        answer.append("Reenviada como ", link);
      } else {
        answer.textContent = "Não reenviada: " + explain(result);
      }
    });
  }
  const bulk = document.getElementById("lote");
  if (!bulk) return;
  const query = (dryRun) => {
    const params = new URLSearchParams({dry_run: String(dryRun)});
    for (const name of ["queue", "reason", "since"]) if (bulk.dataset[name]) params.set(name, bulk.dataset[name]);
    return "/dead-letters/replay?" + params.toString();
  };
  const confirm = document.getElementById("lote-confirmar");
  document.getElementById("lote-contar").addEventListener("click", async () => {
    const result = await post(query(true));
    const count = document.getElementById("lote-contagem");
    if (result.status !== 200) { count.textContent = explain(result); return; }
    count.textContent = result.data.matched + " dead letter(s) ainda não reenviada(s) seriam reenviadas.";
    confirm.hidden = result.data.matched === 0;
  });
  confirm.addEventListener("click", async () => {
    confirm.hidden = true;
    const result = await post(query(false));
    const out = document.getElementById("lote-resultado");
    out.textContent = result.status === 200
      ? result.data.replayed.length + " reenviada(s), " + result.data.failed.length + " com falha" +
        (result.data.stopped ? "; parou: " + result.data.stopped : "") + "."
      : explain(result);
  });
}

function enqueueButton(id, path, answerId, follow) {
  const button = document.getElementById(id);
  if (!button) return;
  button.addEventListener("click", async () => {
    const result = await post(path(button));
    const answer = document.getElementById(answerId);
    if (result.status === 202 && follow) {
      window.location.assign("/painel/tarefas/" + encodeURIComponent(result.data.task_id));
    } else if (result.status === 202) {
      answer.replaceChildren("Tarefa ");
      const link = document.createElement("a");
      link.href = "/painel/tarefas/" + encodeURIComponent(result.data.task_id);
      link.textContent = result.data.task_id;
      answer.append(link);
    } else {
      answer.textContent = explain(result);
    }
  });
}

function models() {
  for (const button of document.querySelectorAll("button.ativar")) {
    button.addEventListener("click", async () => {
      const result = await post("/modelos/imoveis/" + encodeURIComponent(button.dataset.version) + "/ativar");
      if (result.status === 200) window.location.reload();
      else document.getElementById("resposta-ativar").textContent = explain(result);
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const task = document.getElementById("tarefa");
  if (task) taskPage(task);
  const list = document.getElementById("lista-tarefas");
  if (list) taskList(list);
  const live = document.getElementById("ao-vivo");
  if (live && live.dataset.stream && !list) overview(live);
  deadLetters();
  models();
  enqueueButton("gerar-relatorio", (b) => "/relatorio/diario?data=" + encodeURIComponent(b.dataset.day),
                "resposta-relatorio", false);
  enqueueButton("retreinar", () => "/relatorio/churn/atualizar-modelo", "resposta-retreino", true);
});
