//! The open pixel: the smallest valid transparent 1×1 GIF.

/// A 43-byte GIF89a image, one transparent pixel.
///
/// Byte for byte: the `GIF89a` header; a 1×1 logical screen with a two-entry global
/// colour table (black, white); a graphic control extension marking colour 0
/// transparent; one 1×1 image whose LZW data (minimum code size 2) is clear, index 0,
/// end; the trailer. Smaller files circulate, but they drop the colour table or the
/// LZW end code and rely on lenient decoders; this one is valid per the GIF89a
/// specification, so no mail client shows it as a broken image.
///
/// ```
/// assert_eq!(hashbeacon::pixel::GIF.len(), 43);
/// assert!(hashbeacon::pixel::GIF.starts_with(b"GIF89a"));
/// ```
pub const GIF: &[u8] = &[
    b'G', b'I', b'F', b'8', b'9', b'a', // header
    0x01, 0x00, 0x01, 0x00, // logical screen 1×1
    0x80, 0x00, 0x00, // global colour table of 2 entries, background 0, no aspect
    0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, // colour table: black, white
    0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, // graphic control: index 0 transparent
    0x2C, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, // image descriptor 1×1
    0x02, 0x02, 0x44, 0x01, 0x00, // LZW: min code size 2; clear, 0, end; block end
    0x3B, // trailer
];

/// [`GIF`]'s length as the `Content-Length` header value.
pub(crate) const GIF_LEN_TEXT: &str = "43";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_text_matches() {
        assert_eq!(GIF_LEN_TEXT, GIF.len().to_string());
    }

    #[test]
    fn decodes_as_one_transparent_pixel() {
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = options.read_info(GIF).unwrap();
        assert_eq!((decoder.width(), decoder.height()), (1, 1));
        let frame = decoder.read_next_frame().unwrap().unwrap();
        assert_eq!((frame.width, frame.height), (1, 1));
        assert_eq!(frame.transparent, Some(0));
        assert_eq!(frame.buffer.len(), 4, "one RGBA pixel");
        assert_eq!(frame.buffer[3], 0, "alpha is zero: transparent");
        assert!(decoder.read_next_frame().unwrap().is_none(), "exactly one frame");
    }
}
