// The pose service's viewer: frames from a video (or a folder of images) are taken in the browser, posted one by one
// to POST /pose/hybrid as the Node backend posts them, and drawn: each person's BODY_25 skeleton and mesh in the
// track's colour (predicted people dashed and fainter), a coverage timeline, then each track's measurements and
// export links. Conventions (README, "Conventions"): pixels with the origin top-left, x right, y down; meshes in
// metres, root-relative, camera axes (x right, y down, z forward); camera_translation puts them in the camera frame,
// which projects with focal_length_px and the principal point at the image centre.
// The keypoint names, limbs and track colours come from the service (the JSON in the page), never copied here.
//
// For tests, window.viewerState holds: videoId, framesTotal, framesPosted, drawn ({frame number: [track ids drawn]}),
// coverage ([per frame "detected" | "predicted" | "none"]), trackColors ({track id: [r, g, b]}), measured (track ids
// with measurements), done, error.

const SETTINGS = JSON.parse(document.getElementById("settings").textContent);
const EXPORT_FORMATS = ["npz", "obj", "json", "glb", "bvh"]; // GET /sessions/<video_id>/export?format=: the one list
const MEASUREMENTS = ["height", "chest", "waist", "hip", "thigh", "neck", "inseam", "shoulder_width", "arm_length"];
const MIN_CONFIDENCE = 0.3; // keypoints below are not drawn (render/overlay.py's default too)
const JPEG_QUALITY = 0.9;
const SEEK_OFFSET_S = 1e-3; // into the frame: a seek to its exact start time may land on the frame before
const MESH_ALPHA = { detected: 0.55, predicted: 0.3 }; // any other source (interpolated) is drawn as predicted
const SHADE_LEVELS = 16; // flat shading in this many steps, so that runs of faces share one fill
const NEAR_M = 0.05; // faces closer to the camera are not drawn

const $ = (id) => document.getElementById(id);
const view = $("view");
const meshLayer = document.createElement("canvas"); // one person's mesh, opaque, then laid over the frame
const frames = []; // per frame: {jpeg, width, height, focal, people: [{trackId, source, keypoints, vertices}]}
let faces = null; // Uint32Array of triangles, from GET /mesh/faces; null when the service sends no meshes

const state = (window.viewerState = {
  videoId: null, framesTotal: 0, framesPosted: 0, drawn: {}, coverage: [], trackColors: {}, measured: [],
  done: false, error: null,
});

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function apiUrl(path) {
  return new URL(path, document.baseURI); // relative: the page is served beside the API, under any prefix
}

async function api(path, options = {}) {
  const token = $("token").value.trim();
  const headers = { ...options.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  const response = await fetch(apiUrl(path), { ...options, headers });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(`${path.split("?")[0]}: ${response.status} ${body.code ?? ""} ${body.error ?? ""}`.trim(),
      response.status);
  }
  return response;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function trackColor(trackId) {
  const color = SETTINGS.palette[trackId % SETTINGS.palette.length];
  state.trackColors[trackId] = color;
  return color;
}

const css = (rgb, scale = 1) => `rgb(${rgb.map((c) => Math.round(c * scale)).join(", ")})`;

function whenEvent(target, name) {
  return new Promise((resolve, reject) => {
    const listening = new AbortController(); // both listeners go once either has fired
    const first = (settle) => () => {
      listening.abort();
      settle();
    };
    const failed = () => reject(new Error(`cannot read the file (${target.error?.message ?? name})`));
    target.addEventListener(name, first(resolve), { signal: listening.signal });
    target.addEventListener("error", first(failed), { signal: listening.signal });
  });
}

// ------------------------------------------------------------------------------------------------ frame sources
// Each yields {count, image, width, height}: the frame as something drawImage takes, in order.

async function* videoFrames(file, fps, maxFrames) {
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  video.src = URL.createObjectURL(file);
  try {
    await whenEvent(video, "loadedmetadata");
    if (!Number.isFinite(video.duration)) throw new Error("the video does not say how long it is");
    const count = Math.min(maxFrames, Math.ceil(video.duration * fps - SEEK_OFFSET_S));
    for (let i = 0; i < count; i++) {
      video.currentTime = i / fps + SEEK_OFFSET_S;
      await whenEvent(video, "seeked");
      yield { count, image: video, width: video.videoWidth, height: video.videoHeight };
    }
  } finally {
    URL.revokeObjectURL(video.src);
  }
}

async function* folderFrames(files, maxFrames) {
  const images = [...files].filter((f) => f.type.startsWith("image/"))
    .sort((a, b) => a.webkitRelativePath.localeCompare(b.webkitRelativePath, undefined, { numeric: true }));
  const count = Math.min(maxFrames, images.length);
  for (let i = 0; i < count; i++) {
    const bitmap = await createImageBitmap(images[i]);
    yield { count, image: bitmap, width: bitmap.width, height: bitmap.height };
    bitmap.close();
  }
}

// ------------------------------------------------------------------------------------------------------ posting

function videoIdFor(name) {
  const stem = name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 64);
  return `${stem || "video"}-${Date.now().toString(36)}`; // a fresh session each time a video is sent
}

async function meshFaces() {
  try {
    return Uint32Array.from((await (await api("mesh/faces")).json()).mesh_faces_data.flat());
  } catch (error) {
    if (error.status === 404) return null; // keypoints only (POSE_BODY_MODEL=none)
    throw error;
  }
}

function personOf(p) {
  const keypoints = Float32Array.from(p.keypoints.flatMap((k) => [k.x, k.y, k.confidence]));
  let vertices = null; // the camera frame: root-relative vertices + camera_translation
  if (p.mesh_vertices_data && p.camera_translation) {
    const [tx, ty, tz] = p.camera_translation;
    vertices = Float32Array.from(p.mesh_vertices_data.flatMap(([x, y, z]) => [x + tx, y + ty, z + tz]));
  }
  return { trackId: p.track_id, source: p.source, keypoints, vertices };
}

function coverageOf(people) {
  if (people.some((p) => p.source === "detected")) return "detected";
  return people.length ? "predicted" : "none";
}

async function run(source, name) {
  frames.length = 0;
  Object.assign(state, { videoId: videoIdFor(name), framesTotal: 0, framesPosted: 0, drawn: {}, coverage: [],
    trackColors: {}, measured: [], done: false, error: null });
  $("timeline").replaceChildren();
  $("tracks").replaceChildren();
  $("tracks-note").textContent = "Shown when the video has been sent.";
  const inputs = document.querySelectorAll("#controls input");
  inputs.forEach((input) => (input.disabled = true));
  const grab = document.createElement("canvas");
  try {
    faces = await meshFaces();
    for await (const { count, image, width, height } of source) {
      if (!state.framesTotal) startTimeline((state.framesTotal = count));
      grab.width = width;
      grab.height = height;
      grab.getContext("2d").drawImage(image, 0, 0, width, height);
      const jpeg = grab.toDataURL("image/jpeg", JPEG_QUALITY); // the service takes the data: URL as it is
      const number = state.framesPosted;
      const body = JSON.stringify({ image_base64: jpeg, frame_number: number, video_id: state.videoId,
        include_faces: false });
      const reply = await (await api("pose/hybrid", { method: "POST", headers: { "Content-Type": "application/json" },
        body })).json();
      state.framesPosted += 1;
      const people = reply.people.map(personOf);
      frames.push({ jpeg, width, height, focal: reply.focal_length_px, people });
      state.coverage[number] = coverageOf(people);
      $("timeline").children[number].className = `cell ${state.coverage[number]}`;
      await show(number);
      const who = people.length === 1 ? "1 person" : `${people.length} people`;
      say(`${state.videoId}: frame ${number + 1} of ${count}, ${who}`);
    }
    if (!state.framesTotal) throw new Error("no frames: pick a video, or a folder with images in it");
    await showTracks();
  } catch (error) {
    state.error = error.message;
    say(error.message, true);
  } finally {
    inputs.forEach((input) => (input.disabled = false));
    state.done = true;
  }
}

// ------------------------------------------------------------------------------------------------------ drawing

function startTimeline(count) {
  const cells = Array.from({ length: count }, (_, i) => {
    const cell = document.createElement("span");
    cell.className = "cell";
    cell.title = `frame ${i}`;
    cell.addEventListener("click", () => i < frames.length && show(i));
    return cell;
  });
  $("timeline").replaceChildren(...cells);
}

async function show(number) {
  const frame = frames[number];
  const image = new Image();
  image.src = frame.jpeg;
  await image.decode();
  view.width = frame.width;
  view.height = frame.height;
  const ctx = view.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const farthestFirst = [...frame.people].sort((a, b) => depthOf(b) - depthOf(a));
  if (faces) farthestFirst.filter((p) => p.vertices).forEach((p) => drawMesh(ctx, p, frame));
  state.drawn[number] = farthestFirst.filter((p) => drawSkeleton(ctx, p, frame)).map((p) => p.trackId);
  [...$("timeline").children].forEach((cell, i) => cell.classList.toggle("shown", i === number));
}

function depthOf(person) {
  return person.vertices ? person.vertices[2] : 0;
}

// Flat-shaded triangles, back faces culled (faces are wound counter-clockwise seen from outside), painted far to
// near into meshLayer, which is then laid over the frame: translucent, without seams adding up.
function drawMesh(ctx, person, { width, height, focal }) {
  const v = person.vertices;
  const xy = new Float32Array((v.length / 3) * 2);
  for (let i = 0, j = 0; i < v.length; i += 3, j += 2) {
    xy[j] = (focal * v[i]) / v[i + 2] + width / 2;
    xy[j + 1] = (focal * v[i + 1]) / v[i + 2] + height / 2;
  }
  const shown = [];
  const depth = new Float32Array(faces.length / 3);
  const shade = new Uint8Array(faces.length / 3);
  for (let f = 0; f < faces.length / 3; f++) {
    const a = 3 * faces[3 * f], b = 3 * faces[3 * f + 1], c = 3 * faces[3 * f + 2];
    if (Math.min(v[a + 2], v[b + 2], v[c + 2]) < NEAR_M) continue;
    const ux = v[b] - v[a], uy = v[b + 1] - v[a + 1], uz = v[b + 2] - v[a + 2];
    const wx = v[c] - v[a], wy = v[c + 1] - v[a + 1], wz = v[c + 2] - v[a + 2];
    const nx = uy * wz - uz * wy, ny = uz * wx - ux * wz, nz = ux * wy - uy * wx;
    const facing = -(nx * v[a] + ny * v[a + 1] + nz * v[a + 2]); // > 0: the outside faces the camera
    if (facing <= 0) continue;
    const cosine = facing / (Math.hypot(nx, ny, nz) * Math.hypot(v[a], v[a + 1], v[a + 2]));
    shade[f] = Math.round(cosine * (SHADE_LEVELS - 1));
    depth[f] = v[a + 2] + v[b + 2] + v[c + 2];
    shown.push(f);
  }
  shown.sort((f, g) => depth[g] - depth[f]);
  const color = trackColor(person.trackId);
  const fills = Array.from({ length: SHADE_LEVELS }, (_, k) => css(color, 0.35 + (0.65 * k) / (SHADE_LEVELS - 1)));
  meshLayer.width = width;
  meshLayer.height = height;
  const layer = meshLayer.getContext("2d");
  for (let start = 0; start < shown.length;) {
    const level = shade[shown[start]];
    layer.fillStyle = fills[level];
    layer.beginPath();
    let end = start;
    for (; end < shown.length && shade[shown[end]] === level; end++) {
      const f = shown[end];
      const a = 2 * faces[3 * f], b = 2 * faces[3 * f + 1], c = 2 * faces[3 * f + 2];
      layer.moveTo(xy[a], xy[a + 1]);
      layer.lineTo(xy[b], xy[b + 1]);
      layer.lineTo(xy[c], xy[c + 1]);
      layer.closePath();
    }
    layer.fill();
    start = end;
  }
  ctx.globalAlpha = MESH_ALPHA[person.source] ?? MESH_ALPHA.predicted;
  ctx.drawImage(meshLayer, 0, 0);
  ctx.globalAlpha = 1;
}

// Bones and joints in the track's colour, dashed for people the detector did not see; true when anything was drawn.
function drawSkeleton(ctx, person, { width, height }) {
  const k = person.keypoints;
  const seen = (i) => k[3 * i + 2] >= MIN_CONFIDENCE;
  const bones = SETTINGS.limbs.filter(([a, b]) => seen(a) && seen(b));
  if (!bones.length) return false;
  const lineWidth = Math.max(2, Math.round(Math.max(width, height) / 220));
  const detected = person.source === "detected";
  ctx.save();
  ctx.strokeStyle = ctx.fillStyle = css(trackColor(person.trackId));
  ctx.lineWidth = lineWidth;
  ctx.lineCap = "round";
  ctx.setLineDash(detected ? [] : [2 * lineWidth, 2 * lineWidth]);
  ctx.beginPath();
  for (const [a, b] of bones) {
    ctx.moveTo(k[3 * a], k[3 * a + 1]);
    ctx.lineTo(k[3 * b], k[3 * b + 1]);
  }
  ctx.stroke();
  let top = { x: Infinity, y: Infinity };
  for (let i = 0; i < SETTINGS.keypoints.length; i++) {
    if (!seen(i)) continue;
    ctx.beginPath();
    ctx.arc(k[3 * i], k[3 * i + 1], lineWidth, 0, 2 * Math.PI);
    detected ? ctx.fill() : ctx.stroke();
    if (k[3 * i + 1] < top.y) top = { x: k[3 * i], y: k[3 * i + 1] };
  }
  const fontSize = 6 * lineWidth;
  ctx.font = `bold ${fontSize}px sans-serif`;
  ctx.fillText(`#${person.trackId}${detected ? "" : ` ${person.source}`}`, top.x + 3 * lineWidth,
    Math.max(top.y - 2 * lineWidth, fontSize)); // above the head, but in the picture
  ctx.restore();
  return true;
}

// ------------------------------------------------------------------------------------------------------- tracks

async function showTracks() {
  const withBody = [...new Set(frames.flatMap((f) => f.people.filter((p) => p.vertices).map((p) => p.trackId)))];
  if (!withBody.length) {
    $("tracks-note").textContent = "No track has a body: nothing to measure or export.";
    return;
  }
  const measured = {};
  try {
    const reply = await (await api(`sessions/${encodeURIComponent(state.videoId)}/measurements`)).json();
    reply.tracks.forEach((t) => (measured[t.track_id] = t));
    $("tracks-note").textContent = "Measurements in cm (± their uncertainty) on each track's neutral body.";
  } catch (error) {
    $("tracks-note").textContent = `No measurements: ${error.message}`;
  }
  state.measured = Object.keys(measured).map(Number);
  const header = document.createElement("tr");
  header.replaceChildren(...["track", "frames", "scale", ...MEASUREMENTS, "export"].map((name) => cell("th", name)));
  const rows = withBody.sort((a, b) => a - b).map((trackId) => {
    const entry = measured[trackId];
    const row = document.createElement("tr");
    const label = cell("td", `#${trackId}`);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = css(trackColor(trackId));
    label.prepend(swatch);
    const values = MEASUREMENTS.map((name) => entry
      ? `${entry.measurements_cm[name].toFixed(1)} ± ${entry.uncertainty_cm[name].toFixed(1)}` : "–");
    const links = cell("td", "");
    links.append(...EXPORT_FORMATS.map((format) => exportLink(trackId, format)));
    row.replaceChildren(label, cell("td", entry ? entry.frames_used : "–"), cell("td", entry ? entry.scale : "–"),
      ...values.map((text) => cell("td", text)), links);
    return row;
  });
  $("tracks").replaceChildren(header, ...rows);
}

function cell(tag, text) {
  const element = document.createElement(tag);
  element.textContent = text;
  return element;
}

// A plain link; with a token, a click fetches the file with it (a browser following a link sends no header).
function exportLink(trackId, format) {
  const path = `sessions/${encodeURIComponent(state.videoId)}/export?track_id=${trackId}&format=${format}`;
  const link = document.createElement("a");
  link.textContent = format;
  link.href = apiUrl(path);
  link.download = `${state.videoId}-track${trackId}.${format}`;
  link.addEventListener("click", async (event) => {
    if (!$("token").value.trim()) return;
    event.preventDefault();
    try {
      const blobLink = document.createElement("a");
      blobLink.href = URL.createObjectURL(await (await api(path)).blob());
      blobLink.download = link.download;
      blobLink.click();
      setTimeout(() => URL.revokeObjectURL(blobLink.href), 60_000);
    } catch (error) {
      say(error.message, true);
    }
  });
  return link;
}

// --------------------------------------------------------------------------------------------------------- start

const positive = (input, fallback) => (Number(input.value) > 0 ? Number(input.value) : fallback);

$("video-file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) run(videoFrames(file, positive($("fps"), 10), positive($("max-frames"), Infinity)), file.name);
});
$("frame-folder").addEventListener("change", (event) => {
  const files = event.target.files;
  const name = files.length ? files[0].webkitRelativePath.split("/")[0] : "frames";
  run(folderFrames(files, positive($("max-frames"), Infinity)), name);
});
