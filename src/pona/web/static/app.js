// pona web app: talks to the API of pona.web.app; the skeleton (joints, limbs, colours) comes
// from GET /api/skeleton, so nothing about poses is duplicated here. Every pose on this page is
// in the model's frame: [y, x] pixels of an image of the model's size, [-1, -1] = missing.

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

const state = {
  skeleton: null,        // GET /api/skeleton
  size: [256, 176],      // model (H, W)
  condition: null,       // {name} (dataset) or {blob} (an upload, fitted to the model's size)
  conditionUrl: null,
  result: null,          // {attentionId, grid}
  animTimer: null,
};

// --- API ------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response;
}
const getJSON = async (path, options) => (await api(path, options)).json();

function showError(error) {
  const box = $("error");
  if (!error) { box.hidden = true; return; }
  box.textContent = error.message || String(error);
  box.hidden = false;
}

async function busy(button, work) {
  button.disabled = true;
  document.body.dataset.busy = "1";
  try { showError(null); return await work(); }
  catch (error) { showError(error); }
  finally { button.disabled = false; delete document.body.dataset.busy; }
}

const poseJSON = (editor) => JSON.stringify({ keypoints: editor.keypoints(), image_size: state.size });
function pngBlob(base64) {
  const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
  return new Blob([bytes], { type: "image/png" });
}
const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

// --- skeleton editor: an SVG over the image, joints dragged with the pointer ---------------------
class PoseEditor {
  constructor(svg, { onChange = () => {} } = {}) {
    this.svg = svg;
    this.onChange = onChange;
    this.points = [];    // [y, x] per joint, kept even while hidden
    this.hidden = [];    // true = missing joint
    this.dragging = -1;
    svg.addEventListener("pointerdown", (e) => this.down(e));
    svg.addEventListener("pointermove", (e) => this.move(e));
    svg.addEventListener("pointerup", (e) => this.up(e));
    svg.addEventListener("pointercancel", (e) => this.up(e));
  }

  setPose(keypoints) {
    const fallback = state.skeleton.default_pose.keypoints;
    this.points = keypoints.map((p, i) => (p[0] < 0 || p[1] < 0 ? [...fallback[i]] : [...p]));
    this.hidden = keypoints.map((p) => p[0] < 0 || p[1] < 0);
    this.draw();
    this.onChange();
  }

  keypoints() {
    return this.points.map((p, i) => (this.hidden[i] ? [-1, -1] : [round1(p[0]), round1(p[1])]));
  }

  setHidden(joint, hidden) { this.hidden[joint] = hidden; this.draw(); this.onChange(); }

  draw() {
    const [h, w] = state.size;
    const sk = state.skeleton;
    const r = Math.max(h, w) / 45, stroke = Math.max(h, w) / 90;
    this.svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    this.svg.setAttribute("preserveAspectRatio", "none");
    this.svg.replaceChildren();
    sk.limbs.forEach(([a, b], k) => {
      if (this.hidden[a] || this.hidden[b]) return;
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", this.points[a][1]); line.setAttribute("y1", this.points[a][0]);
      line.setAttribute("x2", this.points[b][1]); line.setAttribute("y2", this.points[b][0]);
      line.setAttribute("stroke", rgb(sk.limb_colors[k]));
      line.setAttribute("stroke-width", stroke);
      line.setAttribute("stroke-linecap", "round");
      line.setAttribute("vector-effect", "none");
      this.svg.appendChild(line);
    });
    this.points.forEach(([y, x], j) => {
      if (this.hidden[j]) return;
      const c = document.createElementNS(SVG, "circle");
      c.setAttribute("cx", x); c.setAttribute("cy", y); c.setAttribute("r", r);
      c.setAttribute("fill", rgb(sk.joint_colors[j]));
      c.setAttribute("stroke-width", stroke / 2);
      c.dataset.joint = j;
      if (j === this.dragging) c.classList.add("dragging");
      const title = document.createElementNS(SVG, "title");
      title.textContent = sk.joints[j];
      c.appendChild(title);
      this.svg.appendChild(c);
    });
  }

  toModel(event) {
    // Client pixels -> model pixels through the SVG's own transform (viewBox, CSS size).
    const pt = new DOMPoint(event.clientX, event.clientY).matrixTransform(this.svg.getScreenCTM().inverse());
    const [h, w] = state.size;
    return [clamp(pt.y, 0, h - 1), clamp(pt.x, 0, w - 1)];
  }

  down(event) {
    const joint = event.target.dataset ? event.target.dataset.joint : undefined;
    if (joint === undefined) return;
    this.dragging = Number(joint);
    this.svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  }

  move(event) {
    if (this.dragging < 0) return;
    this.points[this.dragging] = this.toModel(event);
    this.draw();
  }

  up(event) {
    if (this.dragging < 0) return;
    this.points[this.dragging] = this.toModel(event);
    this.dragging = -1;
    this.draw();
    this.onChange();
  }
}

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const round1 = (v) => Math.round(v * 10) / 10;

// --- condition --------------------------------------------------------------------------------
let condEditor, targetEditor;

function setConditionImage(url) {
  if (state.conditionUrl && state.conditionUrl.startsWith("blob:")) URL.revokeObjectURL(state.conditionUrl);
  state.conditionUrl = url;
  $("cond-img").src = url;
  clearHeat();
}

function pickCondition(entry) {
  state.condition = { name: entry.name };
  setConditionImage(`/api/dataset/${encodeURIComponent(entry.name)}/image?fit=1`);
  condEditor.setPose(entry.pose.keypoints);
  setMessage("cond-msg", `${entry.name} from the dataset, with its annotated pose.`);
  markThumb(entry.name, "condition");
}

async function uploadCondition(file) {
  // One request gives the photo fitted to the model's size and its pose in that frame; without
  // pose estimation, the fitted photo alone and a standing skeleton to drag onto the person.
  const form = new FormData();
  form.append("image", file);
  let fitted, keypoints, message, warn = false;
  try {
    const pose = await getJSON("/api/pose?fit=true", { method: "POST", body: form });
    fitted = pngBlob(pose.image);
    keypoints = pose.keypoints;
    message = "Pose estimated from your photo: drag the joints to correct it.";
  } catch (error) {
    if (error.status !== 501 && error.status !== 422) throw error; // not an image, too large, ...
    fitted = await (await api("/api/fit", { method: "POST", body: form })).blob();
    keypoints = state.skeleton.default_pose.keypoints;
    const hint = error.status === 501 ? ". Install the pose extra to estimate poses" : "";
    message = `${error.message}${hint}. Drag the joints onto the person in your photo.`;
    warn = true;
  }
  state.condition = { blob: fitted };
  setConditionImage(URL.createObjectURL(fitted));
  markThumb(null, "condition");
  condEditor.setPose(keypoints);
  setMessage("cond-msg", message, warn);
}

// --- target -----------------------------------------------------------------------------------
function buildJointList() {
  const box = $("joints");
  box.replaceChildren();
  state.skeleton.joints.forEach((name, j) => {
    const label = document.createElement("label");
    const check = document.createElement("input");
    check.type = "checkbox";
    check.dataset.joint = j;
    check.addEventListener("change", () => targetEditor.setHidden(j, !check.checked));
    const dot = document.createElement("i");
    dot.style.background = rgb(state.skeleton.joint_colors[j]);
    label.append(check, dot, name.replace("_", " "));
    box.appendChild(label);
  });
}

function syncJointList() {
  document.querySelectorAll("#joints input").forEach((check) => {
    check.checked = !targetEditor.hidden[Number(check.dataset.joint)];
  });
}

function pickTarget(entry) {
  targetEditor.setPose(entry.pose.keypoints);
  setMessage("target-msg", `The pose of ${entry.name}: drag the joints to change it.`);
  markThumb(entry.name, "target");
}

async function uploadTarget(file) {
  const form = new FormData();
  form.append("image", file);
  try {
    const pose = await getJSON("/api/pose?fit=true", { method: "POST", body: form });
    targetEditor.setPose(pose.keypoints);
    setMessage("target-msg", "Pose estimated from your photo.");
    markThumb(null, "target");
  } catch (error) {
    const hint = error.status === 501 ? ". Install the pose extra, or drag the joints by hand" : "";
    setMessage("target-msg", error.message + hint, true);
  }
}

function mirror(keypoints) {
  const w = state.size[1];
  return state.skeleton.flip.map((from) => {
    const [y, x] = keypoints[from];
    return y < 0 || x < 0 ? [-1, -1] : [y, w - 1 - x];
  });
}

// --- generation -------------------------------------------------------------------------------
function conditionForm() {
  if (!state.condition) throw new Error("Pick a person from the dataset or upload a photo first.");
  const form = new FormData();
  if (state.condition.name) form.append("condition_name", state.condition.name);
  else form.append("condition", state.condition.blob, "condition.png");
  form.append("source_pose", poseJSON(condEditor));
  form.append("target_pose", poseJSON(targetEditor));
  return form;
}

async function generate() {
  const result = await getJSON("/api/transfer?format=json&attention=true", { method: "POST", body: conditionForm() });
  const url = `data:image/png;base64,${result.image}`;
  const img = $("result-img");
  img.src = url;
  img.hidden = false;
  const link = $("download");
  link.href = url;
  link.hidden = false;
  state.result = { attentionId: result.attention_id, grid: result.attention_grid };
  buildAttentionViews();
  setMessage("result-msg", result.attention_id
    ? "Hover the result: where each PoNA block attends in the person's image (brighter = more)."
    : "This model has no pose-guided attention to show.");
}

function buildAttentionViews() {
  const box = $("attention");
  box.replaceChildren();
  if (!state.result.attentionId) return;
  const [h, w] = state.size;
  const blocks = state.skeleton_blocks || 0;
  for (let b = 0; b < blocks; b++) {
    const fig = document.createElement("figure");
    const canvas = document.createElement("canvas");
    const scale = Math.max(1, Math.ceil(128 / h)); // drawn at >= 128 px high, shown at 128 px
    canvas.width = w * scale;
    canvas.height = h * scale;
    canvas.dataset.block = b;
    const caption = document.createElement("figcaption");
    caption.textContent = `block ${b + 1}`;
    fig.append(canvas, caption);
    box.appendChild(fig);
  }
  drawAttention(null);
}

let hoverBusy = false, hoverNext = null;

async function hover(event) {
  if (!state.result || !state.result.attentionId) return;
  const stage = $("result-stage");
  const rect = stage.getBoundingClientRect();
  const [h, w] = state.size;
  const y = clamp(((event.clientY - rect.top) / rect.height) * h, 0, h - 1);
  const x = clamp(((event.clientX - rect.left) / rect.width) * w, 0, w - 1);
  const marker = $("hover-marker");
  marker.style.left = `${event.clientX - rect.left}px`;
  marker.style.top = `${event.clientY - rect.top}px`;
  marker.hidden = false;
  hoverNext = [y, x];
  if (hoverBusy) return; // the latest location is fetched when the current request ends
  hoverBusy = true;
  try {
    while (hoverNext) {
      const [yy, xx] = hoverNext;
      hoverNext = null;
      const row = await getJSON(`/api/attention/${encodeURIComponent(state.result.attentionId)}?y=${yy}&x=${xx}`);
      await drawAttention(row);
    }
  } catch (error) { showError(error); }
  finally { hoverBusy = false; }
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("cannot load image"));
    img.src = url;
  });
}

// A grey map (0..255) -> red (low) to yellow (high), transparent where the map is low, so that a
// diffuse map does not hide the image and a peaked one stands out.
function heatCanvas(grey) {
  const c = document.createElement("canvas");
  c.width = grey.width; c.height = grey.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(grey, 0, 0);
  const data = ctx.getImageData(0, 0, c.width, c.height);
  for (let i = 0; i < data.data.length; i += 4) {
    const v = data.data[i] / 255;
    data.data[i] = 255;
    data.data[i + 1] = Math.round(255 * clamp(2 * v - 1, 0, 1));
    data.data[i + 2] = 0;
    data.data[i + 3] = Math.round(200 * v * v);
  }
  ctx.putImageData(data, 0, 0);
  return c;
}

async function drawAttention(row) {
  const cond = state.conditionUrl ? await loadImage(state.conditionUrl) : null;
  const canvases = document.querySelectorAll("#attention canvas");
  for (const canvas of canvases) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (cond) { ctx.globalAlpha = 0.55; ctx.drawImage(cond, 0, 0, canvas.width, canvas.height); ctx.globalAlpha = 1; }
    const b = Number(canvas.dataset.block);
    if (row && row.blocks[b]) {
      const heat = heatCanvas(await loadImage(`data:image/png;base64,${row.blocks[b]}`));
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(heat, 0, 0, canvas.width, canvas.height);
    }
  }
  if (row && row.blocks.length) drawHeatOnCondition(row);
}

async function drawHeatOnCondition(row) {
  // The last block's map also goes over the person's image, where the eye already is.
  const canvas = $("cond-heat");
  const [h, w] = state.size;
  canvas.width = w * 4; canvas.height = h * 4;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const last = row.blocks[row.blocks.length - 1];
  if (last) ctx.drawImage(heatCanvas(await loadImage(`data:image/png;base64,${last}`)), 0, 0, canvas.width, canvas.height);
}

function clearHeat() {
  const canvas = $("cond-heat");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

async function animate() {
  stopAnimation();
  const form = conditionForm();
  form.append("frames", $("anim-frames").value);
  const anim = await getJSON("/api/animate", { method: "POST", body: form });
  const frames = anim.frames.map((f) => `data:image/png;base64,${f}`);
  const img = $("anim-img");
  img.hidden = false;
  let i = 0, step = 1;
  img.src = frames[0];
  state.animTimer = setInterval(() => {
    // Back and forth: person's pose -> target -> person's pose ...
    if (i + step < 0 || i + step >= frames.length) step = -step;
    i += step;
    img.src = frames[i];
  }, 1000 / anim.fps);
  $("anim-stop").hidden = false;
  setMessage("anim-msg", `${frames.length} frames, generated in one batch.`);
}

function stopAnimation() {
  if (state.animTimer) clearInterval(state.animTimer);
  state.animTimer = null;
  $("anim-stop").hidden = true;
}

// --- dataset ----------------------------------------------------------------------------------
let datasetOffset = 0;

async function loadDataset(reset) {
  if (reset) { datasetOffset = 0; $("thumbs").replaceChildren(); }
  const q = encodeURIComponent($("dataset-filter").value);
  let page;
  try {
    page = await getJSON(`/api/dataset?offset=${datasetOffset}&limit=60&q=${q}`);
  } catch (error) {
    $("dataset-name").textContent = error.status === 404 ? "none: start pona serve with --data DIR to pick people here"
                                                         : error.message;
    return null;
  }
  $("dataset-name").textContent = `${page.dataset.name}, ${page.dataset.split} split, ${page.total} images`;
  for (const entry of page.items) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "thumb";
    button.dataset.name = entry.name;
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = entry.name;
    img.src = `/api/dataset/${encodeURIComponent(entry.name)}/image?fit=1`;
    const label = document.createElement("span");
    label.textContent = entry.name;
    button.append(img, label);
    button.addEventListener("click", () => {
      const mode = document.querySelector("input[name=pick]:checked").value;
      if (mode === "condition") pickCondition(entry); else pickTarget(entry);
    });
    $("thumbs").appendChild(button);
  }
  datasetOffset += page.items.length;
  $("more").hidden = datasetOffset >= page.total;
  return page;
}

function markThumb(name, role) {
  document.querySelectorAll(`.thumb.selected-${role}`).forEach((t) => t.classList.remove(`selected-${role}`));
  if (name) {
    const thumb = document.querySelector(`.thumb[data-name="${CSS.escape(name)}"]`);
    if (thumb) thumb.classList.add(`selected-${role}`);
  }
}

function setMessage(id, text, warn = false) {
  const p = $(id);
  p.textContent = text;
  p.classList.toggle("warn", warn);
}

// --- start ------------------------------------------------------------------------------------
async function start() {
  const [health, skeleton] = await Promise.all([getJSON("/api/health"), getJSON("/api/skeleton")]);
  state.skeleton = skeleton;
  state.skeleton_blocks = health.model.attention ? health.model.n_blocks : 0;
  state.size = skeleton.image_size;
  const [h, w] = state.size;
  document.querySelectorAll(".stage").forEach((s) => { s.style.aspectRatio = `${w} / ${h}`; });
  const pose = health.pose_estimator.available ? "pose estimation on"
                                                : `no pose estimation (${health.pose_estimator.message})`;
  $("status").textContent = `model ${h}×${w}, ${health.model.n_blocks} PoNA blocks, ` +
    `${(health.model.parameters / 1e6).toFixed(2)}M parameters, on ${health.device} (${health.precision}) · ${pose}`;

  condEditor = new PoseEditor($("cond-svg"));
  targetEditor = new PoseEditor($("target-svg"), { onChange: syncJointList });
  buildJointList();
  condEditor.setPose(skeleton.default_pose.keypoints);
  targetEditor.setPose(skeleton.default_pose.keypoints);

  $("cond-file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) busy($("generate"), () => uploadCondition(file));
    e.target.value = "";
  });
  $("target-file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) busy($("generate"), () => uploadTarget(file));
    e.target.value = "";
  });
  $("cond-show").addEventListener("change", (e) => { $("cond-svg").style.visibility = e.target.checked ? "" : "hidden"; });
  $("copy-pose").addEventListener("click", () => targetEditor.setPose(condEditor.keypoints()));
  $("mirror-pose").addEventListener("click", () => targetEditor.setPose(mirror(targetEditor.keypoints())));
  $("reset-pose").addEventListener("click", () => targetEditor.setPose(skeleton.default_pose.keypoints));
  $("generate").addEventListener("click", () => busy($("generate"), generate));
  $("animate").addEventListener("click", () => busy($("animate"), animate));
  $("anim-stop").addEventListener("click", stopAnimation);
  $("result-stage").addEventListener("mousemove", hover);
  $("result-stage").addEventListener("mouseleave", () => { $("hover-marker").hidden = true; });
  $("more").addEventListener("click", () => loadDataset(false));
  let filterTimer = null;
  $("dataset-filter").addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => loadDataset(true), 250);
  });
  const page = await loadDataset(true);
  if (page && page.items.length) pickCondition(page.items[0]);
  document.body.dataset.ready = "1";
}

start().catch(showError);
