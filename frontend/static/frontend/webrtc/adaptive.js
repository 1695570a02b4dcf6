// Adaptive video in SFU rooms (what LiveKit calls adaptive stream): each remote video is received at the simulcast
// layer that fits the size its element is shown at, and not at all while the element is hidden (scrolled away,
// display: none, the page in the background). The server tells the SFU (`sfu-quality`).

/** @typedef {"high" | "medium" | "low" | "off"} VideoQuality */

/** The qualities a client may ask for, best first. */
export const VIDEO_QUALITIES = /** @type {const} */ (["high", "medium", "low", "off"]);

/**
 * The layer for an element shown `width` x `height` CSS pixels on a screen of `pixelRatio`: "off" for nothing
 * shown; "low" below 180 device pixels high, "medium" below 360, else "high".
 * @param {number} width
 * @param {number} height
 * @param {number} [pixelRatio]
 * @returns {VideoQuality}
 */
export function qualityForSize(width, height, pixelRatio = 1) {
  if (width <= 0 || height <= 0) return "off";
  const pixels = height * pixelRatio;
  return pixels < 180 ? "low" : pixels < 360 ? "medium" : "high";
}

/**
 * Watch `element` (a remote peer's <video>) and call `onQuality` with the layer its size and visibility call for,
 * each time that changes; returns the function that stops watching.
 * @param {Element} element
 * @param {(quality: VideoQuality) => void} onQuality
 * @returns {() => void}
 */
export function watchVideoElement(element, onQuality) {
  let width = element.clientWidth;
  let height = element.clientHeight;
  let intersecting = true;
  /** @type {VideoQuality | null} */
  let last = null;
  const decide = () => {
    const shown = intersecting && document.visibilityState !== "hidden";
    const quality = shown ? qualityForSize(width, height, globalThis.devicePixelRatio || 1) : "off";
    if (quality === last) return;
    last = quality;
    onQuality(quality);
  };
  const resize = new ResizeObserver((entries) => {
    const box = entries[entries.length - 1].contentRect;
    width = box.width;
    height = box.height;
    decide();
  });
  const intersection = new IntersectionObserver((entries) => {
    intersecting = entries[entries.length - 1].isIntersecting;
    decide();
  });
  resize.observe(element);
  intersection.observe(element);
  document.addEventListener("visibilitychange", decide);
  decide();
  return () => {
    resize.disconnect();
    intersection.disconnect();
    document.removeEventListener("visibilitychange", decide);
  };
}
