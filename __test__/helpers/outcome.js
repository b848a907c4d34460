// How a call ended: { how: 'throw' | 'reject' | 'return' | 'resolve', error?, value? }.
'use strict'

async function outcome(f) {
  let result
  try {
    result = f()
  } catch (error) {
    return { how: 'throw', error }
  }
  if (result && typeof result.then === 'function') {
    try {
      return { how: 'resolve', value: await result }
    } catch (error) {
      return { how: 'reject', error }
    }
  }
  return { how: 'return', value: result }
}

module.exports = { outcome }
