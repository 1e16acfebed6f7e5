//! The COM1 serial port (a 16550 UART at I/O port 0x3f8): the kernel's
//! console. Output is polled; input is polled by the console syscall later.

use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;

/// The UART at COM1.
pub struct Serial {
    _private: (),
}

/// Register offsets from the base port (16550 datasheet).
const DATA: u16 = 0;
const INTERRUPT_ENABLE: u16 = 1;
const FIFO_CONTROL: u16 = 2;
const LINE_CONTROL: u16 = 3;
const MODEM_CONTROL: u16 = 4;
const LINE_STATUS: u16 = 5;
const LINE_STATUS_THR_EMPTY: u8 = 1 << 5;
const LINE_STATUS_DATA_READY: u8 = 1 << 0;

fn outb(offset: u16, value: u8) {
    // SAFETY: COM1's registers are I/O ports owned by this driver; writing
    // them has no effect on memory.
    unsafe { Port::new(COM1 + offset).write(value) }
}

fn inb(offset: u16) -> u8 {
    // SAFETY: as above; reading a UART register has no memory effect.
    unsafe { Port::new(COM1 + offset).read() }
}

impl Serial {
    /// Programs 115200 baud, 8N1, FIFOs on, interrupts off.
    pub fn init() -> Serial {
        outb(INTERRUPT_ENABLE, 0x00);
        outb(LINE_CONTROL, 0x80); // divisor latch access
        outb(DATA, 0x01); // divisor 1 = 115200 baud
        outb(INTERRUPT_ENABLE, 0x00);
        outb(LINE_CONTROL, 0x03); // 8 bits, no parity, one stop bit
                                  // No FIFOs: with them QEMU drops input that arrives while the
                                  // 16-byte receive FIFO is full; without, it holds input back until
                                  // the byte waiting has been read.
        outb(FIFO_CONTROL, 0x00);
        outb(MODEM_CONTROL, 0x03); // DTR | RTS
        Serial { _private: () }
    }

    /// Writes one byte, waiting for the transmitter.
    pub fn write_byte(&mut self, byte: u8) {
        while inb(LINE_STATUS) & LINE_STATUS_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
        outb(DATA, byte);
    }

    /// Writes bytes, turning `\n` into `\r\n` for terminals.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
    }
}

impl Serial {
    /// A received byte, if one is waiting.
    pub fn try_read_byte(&mut self) -> Option<u8> {
        (inb(LINE_STATUS) & LINE_STATUS_DATA_READY != 0).then(|| inb(DATA))
    }
}

impl core::fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}
