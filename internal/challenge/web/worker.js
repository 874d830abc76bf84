"use strict";
// Finds a decimal nonce such that SHA-256(token ":" nonce) has at least
// difficulty leading zero bits, trying start, start+step, ... (several
// workers share the search). The search hashes with the SHA-256 below,
// several times faster than a call into Web Crypto per nonce; the nonce
// found is confirmed with Web Crypto (crypto.subtle) where the page is a
// secure context, before it is handed back.
var K = new Uint32Array([
0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2]);
var W = new Uint32Array(64), H = new Uint32Array(8);
var IV = [0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19];
var M = new Uint8Array(512); // the padded message, reused

// sha256 hashes M[0:n] (n <= 440) into H.
function sha256(n) {
  var blocks = (n + 9 + 63) >> 6, e = blocks * 64, i;
  M[n] = 0x80;
  for (i = n + 1; i < e - 4; i++) M[i] = 0;
  var bits = n * 8;
  M[e-4] = bits >>> 24; M[e-3] = bits >>> 16; M[e-2] = bits >>> 8; M[e-1] = bits;
  for (i = 0; i < 8; i++) H[i] = IV[i];
  for (var b = 0; b < blocks; b++) {
    for (i = 0; i < 16; i++) {
      var j = b * 64 + i * 4;
      W[i] = (M[j] << 24) | (M[j+1] << 16) | (M[j+2] << 8) | M[j+3];
    }
    for (i = 16; i < 64; i++) {
      var x = W[i-15], y = W[i-2];
      var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (W[i-16] + s0 + W[i-7] + s1) | 0;
    }
    var a = H[0], bb = H[1], c = H[2], d = H[3], ee = H[4], f = H[5], g = H[6], h = H[7];
    for (i = 0; i < 64; i++) {
      var S1 = ((ee >>> 6) | (ee << 26)) ^ ((ee >>> 11) | (ee << 21)) ^ ((ee >>> 25) | (ee << 7));
      var t1 = (h + S1 + ((ee & f) ^ (~ee & g)) + K[i] + W[i]) | 0;
      var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      var t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
      h = g; g = f; f = ee; ee = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
    }
    H[0] += a; H[1] += bb; H[2] += c; H[3] += d; H[4] += ee; H[5] += f; H[6] += g; H[7] += h;
  }
}
// leading returns the leading zero bits of H.
function leading() {
  var n = 0;
  for (var i = 0; i < 8; i++) { var z = H[i] === 0 ? 32 : Math.clz32(H[i]); n += z; if (z < 32) break; }
  return n;
}
function leadingBytes(bytes) {
  var n = 0;
  for (var i = 0; i < bytes.length; i++) { var z = Math.clz32(bytes[i]) - 24; n += z; if (z < 8) break; }
  return n;
}
// put writes the decimal digits of nonce at M[at:] and returns the end.
function put(nonce, at) {
  var s = String(nonce);
  for (var i = 0; i < s.length; i++) M[at + i] = s.charCodeAt(i);
  return at + s.length;
}
async function confirm(prefix, nonce, d) {
  var subtle = self.crypto && self.crypto.subtle;
  if (!subtle) return true; // not a secure context: nothing to confirm with
  var s = prefix + nonce, b = new Uint8Array(s.length);
  for (var i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return leadingBytes(new Uint8Array(await subtle.digest("SHA-256", b))) >= d;
}
async function solve(msg) {
  var prefix = msg.token + ":", d = msg.difficulty, step = msg.step || 1, nonce = msg.start || 0, done = 0;
  try {
    if (prefix.length > 400) throw new Error("token too long");
    for (var i = 0; i < prefix.length; i++) M[i] = prefix.charCodeAt(i);
    for (;;) {
      for (var k = 0; k < 16384; k++, nonce += step) {
        sha256(put(nonce, prefix.length));
        done++;
        if (leading() >= d) {
          if (!(await confirm(prefix, nonce, d))) throw new Error("SHA-256 disagrees with Web Crypto");
          self.postMessage({nonce: nonce, hashes: done});
          return;
        }
      }
      self.postMessage({hashes: done});
      await new Promise(function (r) { setTimeout(r, 0); });
    }
  } catch (e) {
    self.postMessage({error: String(e && e.message || e)});
  }
}
self.onmessage = function (e) { solve(e.data); };
