// Z85 (ZeroMQ RFC 32): the text form of CURVE keys. zeromq.js makes key pairs in it but offers no
// way to turn the raw 32-byte key of a ZAP request back into it, nor to derive a public key.
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const DIGIT = new Map([...ALPHABET].map((char, index) => [char, index]));

/** Z85 text of `bytes`, whose length must be a multiple of 4. */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new RangeError(`Z85 encodes multiples of 4 bytes, got ${bytes.length}`);
  let text = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let value = ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
    let chunk = '';
    for (let k = 0; k < 5; k++) {
      chunk = ALPHABET[value % 85]! + chunk;
      value = Math.floor(value / 85);
    }
    text += chunk;
  }
  return text;
}

/** The bytes of Z85 `text`, whose length must be a multiple of 5. Throws on a character outside Z85. */
export function z85Decode(text: string): Uint8Array {
  if (text.length % 5 !== 0) throw new RangeError(`Z85 text has a multiple of 5 characters, got ${text.length}`);
  const bytes = new Uint8Array((text.length / 5) * 4);
  for (let i = 0, out = 0; i < text.length; i += 5, out += 4) {
    let value = 0;
    for (let k = 0; k < 5; k++) {
      const digit = DIGIT.get(text[i + k]!);
      if (digit === undefined) throw new RangeError(`"${text[i + k]}" is not a Z85 character`);
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) throw new RangeError(`"${text.slice(i, i + 5)}" is out of Z85 range`);
    bytes[out] = value >>> 24;
    bytes[out + 1] = (value >>> 16) & 0xff;
    bytes[out + 2] = (value >>> 8) & 0xff;
    bytes[out + 3] = value & 0xff;
  }
  return bytes;
}
