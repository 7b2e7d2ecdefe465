// JavaMapOrders writes testdata/javamap-openjdk17.txt: the iteration orders of the Java
// maps Flink's configuration passes through (java.util.HashMap built in several ways, and
// the HashMap that Properties.stringPropertyNames returns), for random keys, as a JDK
// prints them. javamap_test.go holds the stand-in's model (javamap.go) to it. Regenerate
// with a JDK 17 (the Java of the real-Flink images):
//
//	javac -d /tmp JavaMapOrders.java && java -cp /tmp JavaMapOrders > javamap-openjdk17.txt
import java.util.*;

public class JavaMapOrders {
    static final Random random = new Random(20261201);

    static String key(boolean collide) {
        if (collide) { // "Aa" and "BB" have the same hash: these keys share buckets
            StringBuilder b = new StringBuilder("k");
            for (int i = 0, n = 1 + random.nextInt(3); i < n; i++) b.append(random.nextBoolean() ? "Aa" : "BB");
            return b.toString();
        }
        String chars = "abcdefghijklmnopqrstuvwxyz.-0123456789";
        StringBuilder b = new StringBuilder();
        for (int i = 0, n = 3 + random.nextInt(10); i < n; i++) b.append(chars.charAt(random.nextInt(chars.length())));
        return b.toString();
    }

    static List<String> keys(int n, boolean collisions) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(key(collisions && random.nextInt(5) == 0));
        return out;
    }

    static void print(String tag, Collection<String> keys) {
        System.out.println(tag + " " + String.join(" ", keys));
    }

    public static void main(String[] args) {
        for (int c = 0; c < 40; c++) {
            List<String> ins = keys(1 + random.nextInt(c < 32 ? 28 : 60), c % 3 == 0);
            List<String> more = keys(1 + random.nextInt(20), false);
            int capacity = random.nextInt(40);
            System.out.println("CASE " + c + " " + capacity);
            print("INS", ins);
            print("MORE", more);
            HashMap<String, String> m = new HashMap<>();
            for (String k : ins) m.put(k, "");
            print("PUT", m.keySet());
            print("COPY", new HashMap<>(m).keySet());
            HashMap<String, String> o = new HashMap<>();
            for (String k : more) o.put(k, "");
            HashMap<String, String> all = new HashMap<>(m);
            all.putAll(o);
            print("COPY+PUTALL", all.keySet());
            HashMap<String, String> sized = new HashMap<>(capacity);
            for (String k : ins) sized.put(k, "");
            print("SIZED", sized.keySet());
            HashMap<String, String> removed = new HashMap<>(m);
            for (int i = 0; i < ins.size(); i += 3) removed.remove(ins.get(i));
            for (String k : more) removed.put(k, "");
            for (int i = 0; i < ins.size(); i += 6) removed.put(ins.get(i), "");
            print("REMOVED", removed.keySet());
            Properties p = new Properties();
            for (String k : ins) p.put(k, "");
            print("PROPERTIES", p.stringPropertyNames());
        }
    }
}
