"use strict";
// Finds a decimal nonce such that SHA-256(token ":" nonce) has at least
// difficulty leading zero bits. Web Crypto where the page is a secure
// context; elsewhere (plain http on a public host) a small SHA-256 below.
var K = new Uint32Array([
0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2]);
var W = new Uint32Array(64);
function sha256(bytes) { // bytes: Uint8Array; returns Uint32Array(8)
  var n = bytes.length, blocks = ((n + 9 + 63) >> 6);
  var m = new Uint8Array(blocks * 64);
  m.set(bytes); m[n] = 0x80;
  var bitsLo = (n * 8) >>> 0, bitsHi = Math.floor(n / 0x20000000);
  var e = m.length;
  m[e-8] = bitsHi >>> 24; m[e-7] = bitsHi >>> 16; m[e-6] = bitsHi >>> 8; m[e-5] = bitsHi;
  m[e-4] = bitsLo >>> 24; m[e-3] = bitsLo >>> 16; m[e-2] = bitsLo >>> 8; m[e-1] = bitsLo;
  var h = new Uint32Array([0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19]);
  for (var b = 0; b < blocks; b++) {
    for (var i = 0; i < 16; i++) {
      var j = b * 64 + i * 4;
      W[i] = (m[j] << 24) | (m[j+1] << 16) | (m[j+2] << 8) | m[j+3];
    }
    for (i = 16; i < 64; i++) {
      var x = W[i-15], y = W[i-2];
      var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (W[i-16] + s0 + W[i-7] + s1) | 0;
    }
    var A = h[0], B = h[1], C = h[2], D = h[3], E = h[4], F = h[5], G = h[6], H = h[7];
    for (i = 0; i < 64; i++) {
      var S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
      var t1 = (H + S1 + ((E & F) ^ (~E & G)) + K[i] + W[i]) | 0;
      var S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
      var t2 = (S0 + ((A & B) ^ (A & C) ^ (B & C))) | 0;
      H = G; G = F; F = E; E = (D + t1) | 0; D = C; C = B; B = A; A = (t1 + t2) | 0;
    }
    h[0] += A; h[1] += B; h[2] += C; h[3] += D; h[4] += E; h[5] += F; h[6] += G; h[7] += H;
  }
  return h;
}
function zeros32(w) { return w === 0 ? 32 : Math.clz32(w); }
function leading(words) { // words: Uint32Array (big-endian words)
  var n = 0;
  for (var i = 0; i < words.length; i++) { var z = zeros32(words[i]); n += z; if (z < 32) break; }
  return n;
}
function leadingBytes(bytes) {
  var n = 0;
  for (var i = 0; i < bytes.length; i++) { var z = Math.clz32(bytes[i]) - 24; n += z; if (z < 8) break; }
  return n;
}
function encode(s) { var b = new Uint8Array(s.length); for (var i = 0; i < s.length; i++) b[i] = s.charCodeAt(i); return b; }
var subtle = (self.crypto && self.crypto.subtle) || null;
async function solve(msg) {
  var prefix = msg.token + ":", d = msg.difficulty, nonce = 0, batch = 256;
  try {
    if (subtle) {
      for (;;) {
        var tries = [];
        for (var k = 0; k < batch; k++) tries.push(subtle.digest("SHA-256", encode(prefix + (nonce + k))));
        var sums = await Promise.all(tries);
        for (k = 0; k < batch; k++) {
          if (leadingBytes(new Uint8Array(sums[k])) >= d) { self.postMessage({nonce: nonce + k, hashes: nonce + k + 1}); return; }
        }
        nonce += batch;
        if (nonce % 8192 === 0) self.postMessage({hashes: nonce});
      }
    }
    for (;;) {
      for (var end = nonce + 8192; nonce < end; nonce++) {
        if (leading(sha256(encode(prefix + nonce))) >= d) { self.postMessage({nonce: nonce, hashes: nonce + 1}); return; }
      }
      self.postMessage({hashes: nonce});
      await new Promise(function (r) { setTimeout(r, 0); });
    }
  } catch (e) {
    self.postMessage({error: String(e && e.message || e)});
  }
}
self.onmessage = function (e) { solve(e.data); };
