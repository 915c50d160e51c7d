/** A dynamic route segment as the console's links write it (encodeURIComponent); a malformed one is kept as it came. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
