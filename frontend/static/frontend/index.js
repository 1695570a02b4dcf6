// Landing page: joins a room over the signaling socket and shows who comes and goes.
const $ = (id) => document.getElementById(id);
const path = $("endpoint").dataset.path;
const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
let socket = null;
const peers = new Set();

function log(text) {
  const item = document.createElement("li");
  item.textContent = text;
  $("log").prepend(item);
}

function render(status) {
  if (status) $("status").textContent = status;
  $("peers").textContent = peers.size ? [...peers].join(", ") : "none";
  $("join").disabled = socket !== null;
  $("leave").disabled = socket === null;
}

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const roomId = $("room").value;
  socket = new WebSocket(url);
  render("connecting");
  socket.addEventListener("open", () => socket.send(JSON.stringify({ t: "join", roomId })));
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    log(event.data);
    if (message.t === "joined") {
      $("peer-id").textContent = message.peerId;
      message.peers.forEach((id) => peers.add(id));
      render(`in room ${message.roomId} (max ${message.maxPeers})`);
    } else if (message.t === "peer-joined") {
      peers.add(message.peerId);
      render();
    } else if (message.t === "peer-left") {
      peers.delete(message.peerId);
      render();
    }
  });
  socket.addEventListener("close", (event) => {
    socket = null;
    peers.clear();
    $("peer-id").textContent = "–";
    render(`closed (${event.code})`);
  });
});

$("leave").addEventListener("click", () => socket && socket.close(1000));
render();
