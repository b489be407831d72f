/// A binary heap of events by (time, insertion order): ties leave in the order they came.
struct EventQueue<Element> {
    private var heap: [(time: Int, order: Int, element: Element)] = []
    private var pushed = 0

    mutating func push(_ time: Int, _ element: Element) {
        heap.append((time, pushed, element))
        pushed += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// When the next event is due, if any.
    func nextTime() -> Int? { heap.first?.time }

    mutating func pop() -> (Int, Element)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, less(left, smallest) { smallest = left }
            if right < heap.count, less(right, smallest) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.element)
    }

    private func less(_ a: Int, _ b: Int) -> Bool { (heap[a].time, heap[a].order) < (heap[b].time, heap[b].order) }
}
