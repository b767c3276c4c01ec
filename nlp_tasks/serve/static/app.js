// The nlp-tasks page: one card per loaded model, every model run on the text box with one click.
// Plain JavaScript, no build step and nothing fetched from outside this server (works offline).
"use strict";

const api = (path, body) => fetch(path, {
  method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
}).then(async (response) => {
  const data = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
});

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};

const field = (card, name, label, value, wide) => {
  const input = el("input", {type: wide ? "text" : "number", name, value, className: wide ? "wide" : ""});
  if (!wide) input.step = "any";
  card.querySelector(".controls").append(el("label", {}, label + " ", input));
  return input;
};

const readInt = (input) => input.value.trim() === "" ? null : Number(input.value);

const checkbox = (card, name, label, checked) => {
  const input = el("input", {type: "checkbox", name, checked});
  card.querySelector(".controls").append(el("label", {}, input, " " + label));
  return input;
};

// Why a character model cannot score `text` ("" when it can): characters it never saw, or, for a
// model of separate lines, more than one line.
function unscorable(model, text) {
  const {characters, lower, mode} = model.info;
  if (!text.trim()) return "the text box is empty";
  if (mode === "lines" && text.trim().includes("\n")) return "the model scores one line at a time";
  if (!characters) return "";
  const known = new Set(characters);
  const unseen = [...new Set([...(lower ? text.toLowerCase() : text)])].filter((c) => !known.has(c));
  return unseen.length ? `characters the model never saw: ${unseen.slice(0, 5).map((c) => JSON.stringify(c)).join(" ")}` : "";
}

function showError(target, error) {
  target.replaceChildren(el("div", {className: "error"}, error.message || String(error)));
}

// ---------------------------------------------------------------- one renderer per task
const tasks = {
  ner: {
    setup() {},
    async run(model, card, text) {
      const out = await api(`/v1/models/${model.name}/entities`, {text});
      const box = el("div", {className: "highlighted"});
      let at = 0;
      for (const entity of out.entities) {
        box.append(text.slice(at, entity.start));
        box.append(el("mark", {className: "entity", title: `${entity.type} ${entity.score}`},
          el("span", {className: "words"}, entity.text), el("span", {className: "type"}, entity.type),
          el("span", {className: "score"}, entity.score.toFixed(2))));
        box.lastChild.dataset.type = entity.type;
        at = entity.end;
      }
      box.append(text.slice(at));
      const count = el("div", {className: "score-line"}, `${out.entities.length} entities in ${out.tokens.length} tokens`);
      card.querySelector(".result").replaceChildren(box, count);
    },
  },
  sentiment: {
    setup() {},
    async run(model, card, text) {
      const out = await api(`/v1/models/${model.name}/sentiment`, {text});
      const rows = el("div", {className: "bars"});
      for (const [label, p] of Object.entries(out.probabilities)) {
        const best = label === out.label;
        const bar = el("div", {className: best ? "bar best" : "bar"});
        bar.style.width = `${(100 * p).toFixed(1)}%`;
        bar.dataset.label = label;
        rows.append(el("span", {}, model.info.ratings ? `${Number(label) + 1} ★` : label),
          el("div", {className: "bar-track"}, bar), el("span", {}, `${(100 * p).toFixed(1)}%`));
      }
      const verdict = out.label === null ? "no known words: no evidence either way"
        : `label ${out.label}` + (out.rating ? ` (rating ${out.rating} of 5)` : "");
      card.querySelector(".result").replaceChildren(el("div", {className: "verdict"}, verdict), rows);
    },
  },
  charlm: {
    setup(model, card) {
      card.inputs = {
        prime: field(card, "prime", "prime", "", true),
        length: field(card, "length", "length", 200),
        temperature: field(card, "temperature", "temperature", 0.8),
        seed: field(card, "seed", "seed", ""),
        // a model of separate lines (names, say) ends a sample at the end of its line
        stop: checkbox(card, "stop_at_eos", "stop at the end of a line", model.info.mode === "lines"),
      };
    },
    async run(model, card, text) {
      const {prime, length, temperature, seed, stop} = card.inputs;
      const result = card.querySelector(".result");
      const out = await api(`/v1/models/${model.name}/generate`, {
        prime: prime.value, length: readInt(length), temperature: Number(temperature.value), seed: readInt(seed),
        stop_at_eos: stop.checked,
      });
      const line = el("div", {className: "score-line"}, `seed ${out.seed}`);
      result.replaceChildren(el("pre", {className: "generated"}, out.samples[0]), line);
      const why = unscorable(model, text);
      if (why) {  // not sent: the server would refuse it
        line.append(` · the text above is not scored (${why})`);
        return;
      }
      try {  // how likely the model finds the text in the box
        const score = await api(`/v1/models/${model.name}/score`, {text});
        line.append(` · the text above: ${score.log2_prob.toFixed(1)} bits, perplexity ${score.perplexity.toFixed(2)}`);
      } catch (error) {
        line.append(` · the text above cannot be scored: ${error.message}`);
      }
    },
  },
  music: {
    setup(model, card) {
      card.inputs = {
        steps: field(card, "steps", "steps", 32),
        temperature: field(card, "temperature", "temperature", 1.0),
        seed: field(card, "seed", "seed", ""),
      };
    },
    async run(model, card) {
      const {steps, temperature, seed} = card.inputs;
      const out = await api(`/v1/models/${model.name}/generate`, {
        steps: readInt(steps), temperature: Number(temperature.value), seed: readInt(seed), format: "json",
      });
      const canvas = el("canvas", {className: "roll", width: 900, height: 180});
      drawRoll(canvas, out.roll, out.primer_steps);
      const wav = blobUrl(out.wav_base64, "audio/wav");
      const audio = el("audio", {controls: true, src: wav, preload: "auto"});
      const link = el("a", {href: blobUrl(out.midi_base64, "audio/midi"), download: `generated-${out.seed}.mid`},
        "Download MIDI");
      const facts = el("div", {className: "score-line"},
        `seed ${out.seed} · ${out.steps} steps · ${out.notes_per_step.toFixed(2)} notes per step · `, link);
      card.querySelector(".result").replaceChildren(canvas, audio, facts);
    },
  },
  g2p: {
    setup(model, card) {
      card.inputs = {
        words: field(card, "words", "words", "", true),
        nbest: field(card, "nbest", "n best", Math.min(3, model.info.beam)),
        beam: field(card, "beam", "beam", ""),
      };
      card.inputs.words.placeholder = "blank: the words of the text";
      const button = el("button", {type: "button", className: "small"}, "Pronounce");
      button.addEventListener("click", async () => {  // this card alone
        button.disabled = true;
        card.dataset.state = "running";
        try {
          await tasks.g2p.run(model, card, document.getElementById("text").value);
        } catch (error) {
          showError(card.querySelector(".result"), error);
        }
        button.disabled = false;
        card.dataset.state = "done";
      });
      card.querySelector(".controls").append(button);
    },
    async run(model, card, text) {
      const {words, nbest, beam} = card.inputs;
      const given = words.value.split(/[\s,]+/).filter(Boolean);
      const list = given.length ? given : (text.match(/[\p{L}\p{M}'’-]+/gu) || []).slice(0, 8);
      const body = {words: list, nbest: readInt(nbest) ?? 1};
      if (readInt(beam) !== null) body.beam = readInt(beam);
      const out = await api(`/v1/models/${model.name}/pronounce`, body);
      const result = card.querySelector(".result");
      result.replaceChildren();
      for (const r of out.results) {
        const rows = el("div", {className: "bars"});
        r.pronunciations.forEach((p, i) => {
          const bar = el("div", {className: i === 0 ? "bar best" : "bar"});
          bar.style.width = `${(100 * p.probability).toFixed(1)}%`;
          const note = `log P = ${p.log_prob.toFixed(3)}` + (p.finished ? "" : " (cut at the longest output)");
          rows.append(el("span", {className: "phonemes", title: note}, `/${p.phonemes}/`),
            el("div", {className: "bar-track"}, bar), el("span", {}, `${(100 * p.probability).toFixed(1)}%`));
        });
        if (!r.pronunciations.length) rows.append(el("span", {}, "no pronunciation found"));
        const word = el("div", {className: "pronounced"}, el("div", {className: "spelling"}, r.word), rows);
        word.dataset.word = r.word;
        result.append(word);
      }
      result.append(el("div", {className: "score-line"},
        `beam ${body.beam ?? model.info.beam} · the ${body.nbest} best pronunciation(s) of each word, ranked by length-normalised log-probability`));
    },
  },
};

function blobUrl(base64, type) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return URL.createObjectURL(new Blob([bytes], {type}));
}

function drawRoll(canvas, roll, primerSteps) {
  // Time runs left to right, pitch bottom (A0) to top (C8), as in a piano-roll editor.
  const ctx = canvas.getContext("2d");
  const keys = 88, steps = Math.max(roll.length, 1);
  const w = canvas.width / steps, h = canvas.height / keys;
  ctx.fillStyle = "#111827";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let t = 0; t < roll.length; t++) {
    ctx.fillStyle = t < primerSteps ? "#9ca3af" : "#60a5fa";
    for (let k = 0; k < keys; k++) {
      if (roll[t][k]) ctx.fillRect(t * w, canvas.height - (k + 1) * h, Math.max(w - 1, 1), Math.max(h, 1.5));
    }
  }
}

// ---------------------------------------------------------------- the page
const cards = [];

async function start() {
  const response = await fetch("/v1/models");
  const {models} = await response.json();
  document.getElementById("loaded").textContent =
    `${models.length} model${models.length === 1 ? "" : "s"} loaded: ` + models.map((m) => `${m.name} (${m.task})`).join(", ");
  const template = document.getElementById("card");
  for (const model of models) {
    const card = template.content.firstElementChild.cloneNode(true);
    card.id = `model-${model.name}`;
    card.dataset.task = model.task;
    card.querySelector(".name").textContent = model.name;
    card.querySelector(".task").textContent = model.task;
    const task = tasks[model.task];
    if (task) task.setup(model, card);
    else card.querySelector(".result").textContent = "this page has no view for this task; use the API (/docs)";
    document.getElementById("models").append(card);
    cards.push({model, card, task});
  }
  document.getElementById("run").addEventListener("click", runAll);
}

async function runAll() {
  const button = document.getElementById("run"), status = document.getElementById("status");
  const text = document.getElementById("text").value;
  button.disabled = true;
  status.dataset.state = "running";
  status.textContent = "running…";
  const started = performance.now();
  await Promise.all(cards.filter((c) => c.task).map(async ({model, card, task}) => {
    card.querySelector(".result").replaceChildren(el("div", {className: "score-line"}, "…"));
    try {
      await task.run(model, card, text);
    } catch (error) {
      showError(card.querySelector(".result"), error);
    }
  }));
  button.disabled = false;
  status.dataset.state = "done";
  status.textContent = `done in ${((performance.now() - started) / 1000).toFixed(2)} s`;
}

start().catch((error) => {
  document.getElementById("loaded").textContent = `could not list the models: ${error.message}`;
});
