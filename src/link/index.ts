export * from './emulator.js'
